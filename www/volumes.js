// Volumes > Volumes and Volume Snapshots: tables, create, attach and
// detach, snapshot, delete.
import * as api from './api.js';
import {data, errors, load, image, server, volume, volumeBusy,
        vsnapBusy} from './data.js';
import {h, fill, fmtTime, titleCase, badge, toast, field, dialog,
        confirmDialog, Table, menu, pageHead} from './ui.js';

let go = () => {};

function stateBadge(st, busy) {
  const kind = busy ? 'busy' : {available: 'ok', 'in-use': 'ok', error: 'bad',
                                error_deleting: 'bad'}[st] || 'off';
  return badge(titleCase(st || 'unknown'), kind);
}

// Attach volume VOL to a server, or a volume to server SRV (one of the
// two is given; the other is chosen in the dialog).
export async function attachDialog(vol, srv) {
  await load(vol ? ['servers'] : ['volumes']);
  const choices = vol
    ? (data.servers || []).filter(s => ['ACTIVE', 'SHUTOFF', 'PAUSED'].includes(s.status))
    : (data.volumes || []).filter(v => v.status === 'available');
  if (!choices.length) {
    toast(vol ? 'No instance to attach the volume to.' : 'No available volume to attach.', 'bad');
    return;
  }
  const pick = h('select', {name: 'target', required: true},
    choices.map(c => h('option', {value: c.id}, c.name || c.id)));
  await dialog({
    title: vol ? `Attach Volume “${vol.name || vol.id}”` : `Attach a Volume to “${srv.name}”`,
    body: [field(vol ? 'Instance' : 'Volume', pick)],
    submit: 'Attach Volume',
    onsubmit: async () => {
      const sid = vol ? pick.value : srv.id;
      const vid = vol ? vol.id : pick.value;
      await api.call('compute', 'POST',
        `/servers/${encodeURIComponent(sid)}/os-volume_attachments`,
        {body: {volumeAttachment: {volumeId: vid}}});
      toast('The volume is being attached.');
    },
  });
  go();
}

async function detach(vol) {
  const att = (vol.attachments || [])[0];
  if (!att) {
    return;
  }
  const s = server(att.server_id);
  const yes = await confirmDialog(`Detach Volume “${vol.name || vol.id}”`,
    `The volume is detached from ${s ? s.name : att.server_id}. ` +
    'Unmount it in the guest first.', 'Detach Volume');
  if (!yes) {
    return;
  }
  try {
    await api.call('compute', 'DELETE',
      `/servers/${encodeURIComponent(att.server_id)}/os-volume_attachments/` +
      encodeURIComponent(vol.id));
    toast('The volume is being detached.');
  } catch (e) {
    toast(`${vol.name || vol.id}: ${e.message}`, 'bad');
  }
  go();
}

async function createVolume(fromSnap) {
  await load(['vsnaps']);
  const name = h('input', {name: 'name', required: true, maxlength: 255, autocomplete: 'off'});
  const size = h('input', {name: 'size', type: 'number', min: 1, max: 16384,
                           required: true, value: fromSnap ? String(fromSnap.size) : '1'});
  const snaps = (data.vsnaps || []).filter(s => s.status === 'available');
  const src = h('select', {name: 'snapshot'},
    h('option', {value: ''}, 'No source: an empty volume'),
    snaps.map(s => h('option', {value: s.id, selected: fromSnap && s.id === fromSnap.id},
                     `Snapshot ${s.name || s.id}`)));
  await dialog({
    title: 'Create Volume',
    body: [field('Volume Name', name), field('Size (GiB)', size), field('Source', src)],
    submit: 'Create Volume',
    onsubmit: async () => {
      const body = {name: name.value.trim(), size: parseInt(size.value, 10)};
      if (src.value) {
        body.snapshot_id = src.value;
      }
      await api.call('volume', 'POST', '/volumes', {body: {volume: body}});
      toast(`Volume “${body.name}” is being created.`);
    },
  });
  go();
}

async function snapshotVolume(vol) {
  const name = h('input', {name: 'name', required: true, maxlength: 255, autocomplete: 'off'});
  await dialog({
    title: `Create Snapshot of Volume “${vol.name || vol.id}”`,
    body: [field('Snapshot Name', name)],
    submit: 'Create Volume Snapshot',
    onsubmit: async () => {
      await api.call('volume', 'POST', '/snapshots', {body: {snapshot: {
        volume_id: vol.id, name: name.value.trim(), force: vol.status === 'in-use',
        metadata: {}}}});
      toast(`Volume snapshot “${name.value.trim()}” is being created.`);
    },
  });
  go();
}

async function remove(kind, item) {
  const what = kind === 'volumes' ? 'Volume' : 'Volume Snapshot';
  const yes = await confirmDialog(`Delete ${what} “${item.name || item.id}”`,
    `The ${what.toLowerCase()} and its data are deleted; this cannot be undone.`,
    `Delete ${what}`);
  if (!yes) {
    return;
  }
  try {
    await api.call('volume', 'DELETE',
      `/${kind === 'volumes' ? 'volumes' : 'snapshots'}/${encodeURIComponent(item.id)}`);
    toast(`${what} “${item.name || item.id}” is being deleted.`);
  } catch (e) {
    toast(`${item.name || item.id}: ${e.message}`, 'bad');
  }
  go();
}

function attachedTo(v) {
  const a = (v.attachments || [])[0];
  if (!a) {
    return h('span', {class: 'muted'}, '—');
  }
  const s = server(a.server_id);
  return `${s ? s.name : a.server_id} on ${a.device || '?'}`;
}

const volumeColumns = [
  {label: 'Name', cell: v => h('span', {class: 'name', title: v.id}, v.name || v.id)},
  {label: 'Size', cell: v => `${v.size} GiB`},
  {label: 'Status', cell: v => stateBadge(v.status, volumeBusy(v))},
  {label: 'Attached To', cell: attachedTo},
  {label: 'Created', cell: v => fmtTime(v.created_at)},
  {label: 'Actions', class: 'act', cell: v => h('div', {class: 'actions'},
    v.status === 'in-use'
      ? h('button', {type: 'button', 'data-focus': 'detach', onclick: () => detach(v)}, 'Detach')
      : v.status === 'available'
        ? h('button', {type: 'button', 'data-focus': 'attach',
                       onclick: () => attachDialog(v, null)}, 'Attach')
        : null,
    menu('More', [
      {label: 'Create Snapshot', onclick: () => snapshotVolume(v)},
      {label: 'Delete Volume', danger: true, onclick: () => remove('volumes', v)},
    ], 'more'))},
];

const snapColumns = [
  {label: 'Name', cell: s => h('span', {class: 'name', title: s.id}, s.name || s.id)},
  {label: 'Volume', cell: s => {
    const v = volume(s.volume_id);
    return v ? v.name || v.id : s.volume_id || '—';
  }},
  {label: 'Size', cell: s => `${s.size} GiB`},
  {label: 'Status', cell: s => stateBadge(s.status, vsnapBusy(s))},
  {label: 'Instance Snapshot', cell: s => {
    const id = s.metadata && s.metadata.instance_snapshot_id;
    if (!id) {
      return h('span', {class: 'muted'}, '—');
    }
    const img = image(id);
    return h('a', {href: `#/images/${encodeURIComponent(id)}`}, img ? img.name || id : id);
  }},
  {label: 'Created', cell: s => fmtTime(s.created_at)},
  {label: 'Actions', class: 'act', cell: s => h('div', {class: 'actions'},
    s.status === 'available'
      ? h('button', {type: 'button', 'data-focus': 'vol', onclick: () => createVolume(s)},
          'Create Volume') : null,
    menu('More', [{label: 'Delete Volume Snapshot', danger: true,
                   onclick: () => remove('vsnaps', s)}], 'more'))},
];

function listView(title, kind, columns, needs, busy, button) {
  let table = null;
  let errBox = null;
  return {
    title,
    mount(main, refresh) {
      go = refresh;
      table = new Table(columns, {label: title, key: x => x.id,
        sig: x => JSON.stringify([x, needs.map(k => (data[k] || []).length)]),
        empty: `No ${title.toLowerCase()}.`});
      errBox = h('div', {class: 'alert error', role: 'alert', hidden: true});
      fill(main, pageHead(title, button), errBox, table.el);
    },
    async refresh() {
      await load([kind, ...needs]);
      errBox.hidden = !errors[kind];
      errBox.textContent = errors[kind]
        ? `${title} cannot be listed: ${errors[kind].message}` : '';
      table.update(data[kind] || []);
      return (data[kind] || []).some(busy);
    },
  };
}

export function volumesView() {
  return listView('Volumes', 'volumes', volumeColumns, ['servers'], volumeBusy,
    h('button', {type: 'button', class: 'primary', onclick: () => createVolume(null)},
      'Create Volume'));
}

export function vsnapsView() {
  return listView('Volume Snapshots', 'vsnaps', snapColumns, ['volumes', 'images'],
                  vsnapBusy, null);
}
