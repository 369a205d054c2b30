// Compute > Instances: the table, its actions (Create Snapshot, Create
// Backup, Stop, Start, Pause, Resume, Reboot, Attach Volume, Delete) and
// Launch Instance.
import * as api from './api.js';
import {data, errors, load, image, server, serverImageId, serverBusy,
        imageType, bootable, watch, watching} from './data.js';
import {h, fill, fmtTime, titleCase, badge, spinner, toast, field, dialog,
        confirmDialog, Table, menu, pageHead} from './ui.js';
import {attachDialog} from './volumes.js';

const POWER = {0: 'No State', 1: 'Running', 3: 'Paused', 4: 'Shut Down',
               6: 'Crashed', 7: 'Suspended'};

// Volumes to attach to new servers once they are ACTIVE: id -> [vol ids].
const pendingAttach = new Map();

let table = null;
let errBox = null;
let go = () => {};

function statusKind(s) {
  if (serverBusy(s)) {
    return 'busy';
  }
  return {ACTIVE: 'ok', ERROR: 'bad', SHUTOFF: 'off', PAUSED: 'off',
          SUSPENDED: 'off'}[s.status] || '';
}

async function act(s, body, done) {
  try {
    await api.call('compute', 'POST',
                   `/servers/${encodeURIComponent(s.id)}/action`, {body});
    toast(done);
  } catch (e) {
    toast(`${s.name}: ${e.message}`, 'bad');
  }
  go();
}

// The body of createImage.  "All volumes" asks for the attached volumes
// too, at the same instant (seed 004); it travels as the request's
// vmsnap:all_volumes member.
function createImageBody(name, allVolumes) {
  const b = {name, metadata: {}};
  if (allVolumes) {
    b['vmsnap:all_volumes'] = true;
  }
  return {createImage: b};
}

export async function snapshotDialog(s) {
  const name = h('input', {name: 'name', required: true, maxlength: 255,
                           autocomplete: 'off'});
  const all = h('input', {type: 'checkbox', name: 'all_volumes'});
  const attached = (s['os-extended-volumes:volumes_attached'] || []).length;
  const id = await dialog({
    title: `Create Snapshot of “${s.name}”`,
    body: [
      h('p', {class: 'muted'}, 'A snapshot is an image of the instance’s disk ' +
        'at one instant. With the guest agent, the file systems are frozen ' +
        'for that instant, so the snapshot is consistent.'),
      field('Snapshot Name', name),
      field('All volumes', all, attached
        ? `Also snapshot the ${attached} attached volume(s) at the same instant.`
        : 'Also snapshot every attached volume at the same instant.'),
    ],
    submit: 'Create Snapshot',
    onsubmit: async () => {
      const res = await api.call('compute', 'POST',
        `/servers/${encodeURIComponent(s.id)}/action`,
        {body: createImageBody(name.value.trim(), all.checked)});
      return (await api.imageIdOf(res)) || true;
    },
  });
  if (id) {
    watch(typeof id === 'string' ? id : null, s.id, name.value.trim(), 'Snapshot');
    toast(`Snapshot “${name.value.trim()}” of ${s.name} started.`);
    location.hash = '#/images';
  }
}

async function backupDialog(s) {
  const name = h('input', {name: 'name', required: true, maxlength: 255,
                           autocomplete: 'off'});
  const type = h('input', {name: 'backup_type', required: true, value: 'daily',
                           list: 'backup-types', autocomplete: 'off'});
  const types = h('datalist', {id: 'backup-types'},
                  ['daily', 'weekly', 'monthly'].map(t => h('option', {value: t})));
  const rotation = h('input', {name: 'rotation', type: 'number', min: 0,
                               max: 10000, required: true, value: '2'});
  const all = h('input', {type: 'checkbox', name: 'all_volumes'});
  const inc = h('input', {type: 'checkbox', name: 'incremental'});
  const id = await dialog({
    title: `Create Backup of “${s.name}”`,
    body: [
      field('Backup Name', name),
      field('Backup Type', type, 'Backups of one type are rotated together.'),
      types,
      field('Rotation', rotation, 'How many backups of this type to keep; ' +
            'the oldest beyond that are deleted.'),
      field('All volumes', all, 'Also back up every attached volume at ' +
            'the same instant.'),
      field('Incremental', inc, 'Keep it in the deduplicating store, ' +
            'copying only what changed since the last backup.'),
    ],
    submit: 'Create Backup',
    onsubmit: async () => {
      const b = {name: name.value.trim(), backup_type: type.value.trim(),
                 rotation: parseInt(rotation.value, 10)};
      if (all.checked) {
        b['vmsnap:all_volumes'] = true;
      }
      if (inc.checked) {
        b['vmsnap:incremental'] = true;
      }
      const res = await api.call('compute', 'POST',
        `/servers/${encodeURIComponent(s.id)}/action`, {body: {createBackup: b}});
      return (await api.imageIdOf(res)) || true;
    },
  });
  if (id) {
    watch(typeof id === 'string' ? id : null, s.id, name.value.trim(), 'Backup');
    toast(`Backup “${name.value.trim()}” of ${s.name} started.`);
    go();
  }
}

async function deleteServer(s) {
  const yes = await confirmDialog(`Delete Instance “${s.name}”`,
    'The instance and its root disk are deleted. Images made from it ' +
    'and attached volumes are kept.', 'Delete Instance');
  if (!yes) {
    return;
  }
  try {
    await api.call('compute', 'DELETE', `/servers/${encodeURIComponent(s.id)}`);
    toast(`Instance “${s.name}” is being deleted.`);
  } catch (e) {
    toast(`${s.name}: ${e.message}`, 'bad');
  }
  go();
}

// Launch Instance, with the image PRESET (an id) chosen.
export async function launchDialog(preset) {
  await load(['images', 'flavors', 'volumes']);
  if (errors.flavors) {
    toast(`Flavors cannot be listed: ${errors.flavors.message}`, 'bad');
  }
  const imgs = (data.images || []).filter(bootable);
  const name = h('input', {name: 'name', required: true, maxlength: 255,
                           autocomplete: 'off'});
  const source = h('select', {name: 'image', required: true},
    h('option', {value: ''}, 'Choose an image or a snapshot'),
    ['image', 'snapshot', 'backup'].map(t => {
      const of = imgs.filter(i => imageType(i) === t);
      return of.length ? h('optgroup', {label: titleCase(`${t}s`)},
        of.map(i => h('option', {value: i.id, selected: i.id === preset},
                      i.name || i.id))) : null;
    }));
  const flavors = (data.flavors || []).slice()
    .sort((a, b) => (a.ram - b.ram) || (a.vcpus - b.vcpus));
  const flavor = h('select', {name: 'flavor', required: true},
    flavors.map(f => h('option', {value: f.id},
      `${f.name} (${f.vcpus} vCPU, ${f.ram} MiB RAM, ${f.disk} GiB disk)`)));
  const free = (data.volumes || []).filter(v => v.status === 'available');
  const vols = free.map(v => h('input', {type: 'checkbox', value: v.id}));
  const volBox = free.length
    ? h('fieldset', null, h('legend', null, 'Volumes to attach'),
        free.map((v, i) => field(`${v.name || v.id} (${v.size} GiB)`, vols[i])))
    : h('p', {class: 'hint'}, 'No available volume to attach.');
  const id = await dialog({
    title: 'Launch Instance',
    body: [field('Instance Name', name),
           field('Source', source, 'An image, or a snapshot or backup of an instance.'),
           field('Flavor', flavor), volBox],
    submit: 'Launch Instance',
    onsubmit: async () => {
      const d = await api.json('compute', 'POST', '/servers', {body: {server: {
        name: name.value.trim(), imageRef: source.value, flavorRef: flavor.value,
        min_count: 1, max_count: 1}}});
      return (d && d.server && d.server.id) || true;
    },
  });
  if (!id) {
    return;
  }
  const want = vols.filter(c => c.checked).map(c => c.value);
  if (want.length && typeof id === 'string') {
    pendingAttach.set(id, want);
  }
  toast(`Instance “${name.value.trim()}” is being launched.`);
  if (location.hash === '#/instances') {
    go();
  } else {
    location.hash = '#/instances';
  }
}

// Attach the volumes chosen at launch once their server is ACTIVE.
async function attachPending() {
  for (const [sid, vols] of [...pendingAttach]) {
    const s = server(sid);
    if (!s || s.status === 'ERROR') {
      pendingAttach.delete(sid);
      continue;
    }
    if (s.status !== 'ACTIVE' || s['OS-EXT-STS:task_state']) {
      continue;
    }
    pendingAttach.delete(sid);
    for (const v of vols) {
      try {
        await api.call('compute', 'POST',
          `/servers/${encodeURIComponent(sid)}/os-volume_attachments`,
          {body: {volumeAttachment: {volumeId: v}}});
      } catch (e) {
        toast(`Attaching a volume to ${s.name}: ${e.message}`, 'bad');
      }
    }
  }
}

function actions(s) {
  const busy = !!s['OS-EXT-STS:task_state'] || s.status === 'BUILD';
  const st = s.status;
  const canSnap = !busy && ['ACTIVE', 'SHUTOFF', 'PAUSED', 'SUSPENDED'].includes(st);
  const items = [];
  if (canSnap) {
    items.push({label: 'Create Backup', onclick: () => backupDialog(s)});
  }
  if (!busy && st === 'ACTIVE') {
    items.push({label: 'Pause', onclick: () => act(s, {pause: null}, `Pausing ${s.name}.`)});
    items.push({label: 'Reboot', onclick: () => act(s, {reboot: {type: 'SOFT'}}, `Rebooting ${s.name}.`)});
  }
  if (!busy && st === 'PAUSED') {
    items.push({label: 'Resume', onclick: () => act(s, {unpause: null}, `Resuming ${s.name}.`)});
  }
  if (!busy && st === 'SUSPENDED') {
    items.push({label: 'Resume', onclick: () => act(s, {resume: null}, `Resuming ${s.name}.`)});
  }
  if (!busy && ['ACTIVE', 'PAUSED', 'ERROR'].includes(st)) {
    items.push({label: 'Stop', onclick: () => act(s, {'os-stop': null}, `Stopping ${s.name}.`)});
  }
  if (!busy && st === 'SHUTOFF') {
    items.push({label: 'Start', onclick: () => act(s, {'os-start': null}, `Starting ${s.name}.`)});
  }
  if (!busy && ['ACTIVE', 'SHUTOFF', 'PAUSED'].includes(st)) {
    items.push({label: 'Attach Volume', onclick: () => attachDialog(null, s).then(go)});
  }
  items.push({label: 'Delete Instance', danger: true, onclick: () => deleteServer(s)});
  return h('div', {class: 'actions'},
    canSnap ? h('button', {type: 'button', 'data-focus': 'snap',
                           onclick: () => snapshotDialog(s)}, 'Create Snapshot')
            : null,
    menu('More', items, 'more'));
}

const columns = [
  {label: 'Name', cell: s => h('span', {class: 'name', title: s.id}, s.name || s.id)},
  {label: 'Image', cell: s => {
    const id = serverImageId(s);
    if (!id) {
      return h('span', {class: 'muted'}, 'Booted from volume');
    }
    const img = image(id);
    return h('a', {href: `#/images/${encodeURIComponent(id)}`},
             img ? img.name || id : id);
  }},
  {label: 'Status', cell: s => [
    badge(titleCase(s.status || 'unknown'), statusKind(s)),
    s.fault && s.fault.message
      ? h('div', {class: 'reason'}, s.fault.message) : null]},
  {label: 'Task', cell: s => {
    const t = s['OS-EXT-STS:task_state'];
    return t ? h('span', {class: 'task'}, spinner(), titleCase(t))
             : h('span', {class: 'muted'}, 'None');
  }},
  {label: 'Power State', cell: s => POWER[s['OS-EXT-STS:power_state']] || 'No State'},
  {label: 'Created', cell: s => h('time', {datetime: s.created || ''}, fmtTime(s.created))},
  {label: 'Actions', class: 'act', cell: actions},
];

function render() {
  if (errors.servers) {
    errBox.textContent = `Instances cannot be listed: ${errors.servers.message}`;
    errBox.hidden = false;
  } else {
    errBox.hidden = true;
  }
  const list = (data.servers || []).slice()
    .sort((a, b) => String(b.created).localeCompare(String(a.created)) ||
                    String(a.name).localeCompare(String(b.name)));
  table.update(list);
}

export default {
  title: 'Instances',
  mount(main, refresh) {
    go = refresh;
    table = new Table(columns, {
      label: 'Instances', empty: 'No instances. Launch one from an image.',
      key: s => s.id,
      sig: s => {
        const img = image(serverImageId(s));
        return JSON.stringify([s, img && img.name]);
      },
    });
    errBox = h('div', {class: 'alert error', role: 'alert', hidden: true});
    fill(main, 
      pageHead('Instances', h('button', {type: 'button', class: 'primary',
                                         onclick: () => launchDialog()},
                              'Launch Instance')),
      errBox, table.el);
  },
  async refresh() {
    await load(['servers', 'images']);
    await attachPending();
    render();
    return (data.servers || []).some(serverBusy) || watching() ||
           pendingAttach.size > 0;
  },
};
