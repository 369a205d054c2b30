// Compute > Images: the table (images, snapshots and backups), an image's
// detail page, upload from a file, property editing, deletion, Launch.
import * as api from './api.js';
import {data, errors, load, image, server, vsnap, volume, imageType,
        imageProgress, imageBusy, bootable, watching} from './data.js';
import {h, fill, fmtSize, fmtTime, titleCase, badge, spinner, toast, field,
        dialog, confirmDialog, Table, menu, pageHead} from './ui.js';
import {launchDialog} from './instances.js';

// Glance's own attributes: not properties, not editable here.
const BASE = new Set(['id', 'name', 'status', 'visibility', 'protected',
  'os_hidden', 'owner', 'disk_format', 'container_format', 'size',
  'virtual_size', 'checksum', 'os_hash_algo', 'os_hash_value', 'min_ram',
  'min_disk', 'created_at', 'updated_at', 'tags', 'self', 'file', 'schema',
  'fail_reason', 'locations', 'direct_url', 'vmsnap_progress',
  'os_glance_import_task', 'stores']);

// What a snapshot records (snapshot.h), shown in its own section.
const SNAP_PROPS = [
  ['instance_uuid', 'Instance'],
  ['base_image_ref', 'Base image'],
  ['image_type', 'Type'],
  ['backup_type', 'Backup type'],
  ['vmsnap_quiesced', 'Quiesced'],
  ['vmsnap_freeze_ms', 'Freeze window (ms)'],
  ['vmsnap_hold_ms', 'Held frozen by vmsnap (ms)'],
  ['vmsnap_mode', 'Mode'],
  ['vmsnap_point_in_time', 'Point in time'],
  ['vmsnap_copy_ms', 'Copy time (ms)'],
];

let go = () => {};

// The status of an image: saving with its progress, killed with why.
export function statusCell(img) {
  const st = img.status || 'unknown';
  if (st === 'saving' || st === 'queued' || st === 'uploading' || st === 'importing') {
    const p = imageProgress(img);
    const bar = h('progress', {max: 100, 'aria-label': `${img.name || img.id} progress`});
    if (p !== null) {
      bar.value = p;
    }
    return h('div', {class: 'status-saving'},
      badge(titleCase(st), 'busy'), ' ',
      st === 'queued' ? null : bar,
      p !== null && st !== 'queued' ? h('span', {class: 'pct'}, ` ${Math.round(p)}%`) : null);
  }
  if (st === 'killed') {
    return [badge('Killed', 'bad'),
            h('div', {class: 'reason'}, img.fail_reason || 'No reason was recorded.')];
  }
  return badge(titleCase(st), st === 'active' ? 'ok' : st === 'deleted' ? 'bad' : 'off');
}

async function deleteImage(img, after) {
  const yes = await confirmDialog(`Delete Image “${img.name || img.id}”`,
    'The image and its data are deleted; this cannot be undone. ' +
    'Instances booted from it must be deleted first.', 'Delete Image');
  if (!yes) {
    return;
  }
  try {
    await api.call('image', 'DELETE', `/v2/images/${encodeURIComponent(img.id)}`);
    toast(`Image “${img.name || img.id}” deleted.`);
    if (after) {
      after();
    }
  } catch (e) {
    toast(`${img.name || img.id}: ${e.message}`, 'bad');
  }
  go();
}

// A key/value editor of properties; returns {el, read()}.
function propEditor(props) {
  const rows = h('div', {class: 'props'});
  function addRow(k, v) {
    const key = h('input', {value: k, 'aria-label': 'Property name',
                            autocomplete: 'off', maxlength: 255});
    const val = h('input', {value: v, 'aria-label': 'Property value',
                            autocomplete: 'off', maxlength: 65535});
    const row = h('div', {class: 'prop-row'}, key, val,
      h('button', {type: 'button', 'aria-label': 'Remove property',
                   onclick: () => row.remove()}, 'Remove'));
    rows.appendChild(row);
    return key;
  }
  for (const [k, v] of props) {
    addRow(k, v);
  }
  const el = h('fieldset', null, h('legend', null, 'Properties'), rows,
    h('button', {type: 'button', onclick: () => addRow('', '').focus()},
      'Add property'));
  function read() {
    const out = new Map();
    for (const r of rows.querySelectorAll('.prop-row')) {
      const [k, v] = r.querySelectorAll('input');
      const key = k.value.trim();
      if (!key) {
        continue;
      }
      if (BASE.has(key)) {
        throw new Error(`“${key}” is an attribute of the image, not a property.`);
      }
      out.set(key, v.value);
    }
    return out;
  }
  return {el, read};
}

function customProps(img) {
  return Object.entries(img)
    .filter(([k, v]) => !BASE.has(k) && typeof v === 'string')
    .sort((a, b) => a[0].localeCompare(b[0]));
}

// Glance's visibilities; public only for admins (or when it is already).
function visibilitySelect(cur) {
  const admin = (api.current().roles || []).includes('admin');
  return h('select', {name: 'visibility'},
    ['private', 'shared', 'community', 'public']
      .filter(v => v !== 'public' || admin || cur === 'public').map(v =>
      h('option', {value: v, selected: v === cur}, titleCase(v))));
}

// Edit an image: name, visibility, properties (a JSON patch).
async function editDialog(img) {
  const name = h('input', {name: 'name', value: img.name || '', required: true,
                           maxlength: 255, autocomplete: 'off'});
  const vis = visibilitySelect(img.visibility);
  const before = new Map(customProps(img));
  const props = propEditor(before);
  await dialog({
    title: `Edit Image “${img.name || img.id}”`,
    body: [field('Name', name), field('Visibility', vis), props.el],
    submit: 'Save',
    onsubmit: async () => {
      const after = props.read();
      const ops = [];
      if (name.value.trim() !== img.name) {
        ops.push({op: 'replace', path: '/name', value: name.value.trim()});
      }
      if (vis.value !== img.visibility) {
        ops.push({op: 'replace', path: '/visibility', value: vis.value});
      }
      for (const k of before.keys()) {
        if (!after.has(k)) {
          ops.push({op: 'remove', path: `/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`});
        }
      }
      for (const [k, v] of after) {
        if (before.get(k) !== v) {
          ops.push({op: before.has(k) ? 'replace' : 'add',
                    path: `/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`, value: v});
        }
      }
      if (ops.length) {
        await api.call('image', 'PATCH', `/v2/images/${encodeURIComponent(img.id)}`,
          {body: ops, type: 'application/openstack-images-v2.1-json-patch'});
        toast(`Image “${name.value.trim()}” saved.`);
      }
    },
  });
  go();
}

function formatOf(fileName) {
  const n = fileName.toLowerCase();
  if (n.endsWith('.qcow2') || n.endsWith('.img')) {
    return 'qcow2';
  }
  if (n.endsWith('.raw')) {
    return 'raw';
  }
  if (/vmlinu[xz]|kernel/.test(n)) {
    return 'aki';
  }
  if (/initrd|initramfs|ramdisk/.test(n)) {
    return 'ari';
  }
  return null;
}

// Create an image and upload its data from a file, with a progress bar.
async function uploadDialog() {
  const name = h('input', {name: 'name', required: true, maxlength: 255,
                           autocomplete: 'off'});
  const file = h('input', {name: 'file', type: 'file', required: true});
  const fmt = h('select', {name: 'disk_format'},
    [['qcow2', 'QCOW2 disk'], ['raw', 'Raw disk'], ['aki', 'Kernel (aki)'],
     ['ari', 'Ramdisk (ari)']].map(([v, l]) => h('option', {value: v}, l)));
  const vis = visibilitySelect('private');
  const agent = h('input', {type: 'checkbox', name: 'agent'});
  const props = propEditor([]);
  const bar = h('progress', {max: 100, value: 0, 'aria-label': 'Upload progress'});
  const barText = h('span', {class: 'pct'});
  const barBox = h('div', {class: 'upload-progress', hidden: true}, bar, barText);
  let upload = null;
  let created = null;
  file.addEventListener('change', () => {
    const f = file.files[0];
    if (f) {
      if (!name.value) {
        name.value = f.name.replace(/\.(qcow2|img|raw)$/i, '');
      }
      const guess = formatOf(f.name);
      if (guess) {
        fmt.value = guess;
      }
    }
  });
  const done = await dialog({
    title: 'Create Image',
    body: [field('Image Name', name), field('File', file), field('Format', fmt),
           field('Visibility', vis),
           field('Guest agent installed', agent,
                 'Sets hw_qemu_guest_agent=yes: snapshots freeze the file ' +
                 'systems through the agent, so they are consistent.'),
           props.el, barBox],
    submit: 'Create Image',
    oncancel: () => {
      if (upload) {
        upload.abort();
      }
    },
    onsubmit: async () => {
      const f = file.files[0];
      if (!f) {
        throw new Error('Choose a file to upload.');
      }
      const body = {name: name.value.trim(), disk_format: fmt.value,
                    container_format: 'bare', visibility: vis.value};
      for (const [k, v] of props.read()) {
        body[k] = v;
      }
      if (agent.checked) {
        body.hw_qemu_guest_agent = 'yes';
      }
      if (!created) {
        created = await api.json('image', 'POST', '/v2/images', {body});
      }
      barBox.hidden = false;
      upload = api.uploadImage(created.id, f, (loaded, total) => {
        const p = total ? Math.round(loaded * 100 / total) : 0;
        bar.value = p;
        barText.textContent = ` ${p}% of ${fmtSize(total)}`;
      });
      try {
        await upload.promise;
      } catch (e) {
        throw await uploadFailure(created, e, () => { created = null; });
      } finally {
        upload = null;
      }
      return true;
    },
  });
  if (done) {
    toast(`Image “${name.value.trim()}” uploaded.`);
  }
  go();
}

// Why an upload into image IMG failed (ERR, the request's error): the
// image service's own reason when it killed the image (fail_reason; the
// image stays, killed, in the table), else ERR after removing the record
// left queued, so that nothing half-made stays behind.  FORGET is called
// when the record is no longer there to upload into.
async function uploadFailure(img, err, forget) {
  forget();
  try {
    const now = await api.json('image', 'GET', `/v2/images/${encodeURIComponent(img.id)}`);
    if (now && now.status === 'killed' && now.fail_reason) {
      return new Error(`The image service refused the data: ${now.fail_reason}`);
    }
    if (now && now.status === 'queued') {
      await api.call('image', 'DELETE', `/v2/images/${encodeURIComponent(img.id)}`);
    }
  } catch (x) {
    // The record is gone, or the service is: ERR says enough.
  }
  return err;
}

function rowActions(img) {
  return h('div', {class: 'actions'},
    bootable(img) ? h('button', {type: 'button', 'data-focus': 'launch',
                                 onclick: () => launchDialog(img.id)}, 'Launch') : null,
    menu('More', [
      {label: 'Edit Image', onclick: () => editDialog(img)},
      {label: 'Delete Image', danger: true, onclick: () => deleteImage(img)},
    ], 'more'));
}

const columns = [
  {label: 'Name', cell: i => h('a', {href: `#/images/${encodeURIComponent(i.id)}`,
                                     class: 'name'}, i.name || i.id)},
  {label: 'Type', cell: i => titleCase(imageType(i))},
  {label: 'Status', cell: statusCell},
  {label: 'Size', cell: i => fmtSize(i.size)},
  {label: 'Visibility', cell: i => titleCase(i.visibility || '')},
  {label: 'Format', cell: i => (i.disk_format || '—').toUpperCase()},
  {label: 'Created', cell: i => h('time', {datetime: i.created_at || ''}, fmtTime(i.created_at))},
  {label: 'Actions', class: 'act', cell: rowActions},
];

let table = null;
let errBox = null;

export const imagesView = {
  title: 'Images',
  mount(main, refresh) {
    go = refresh;
    table = new Table(columns, {label: 'Images', key: i => i.id,
                                sig: i => JSON.stringify(i),
                                empty: 'No images. Create one from a file.'});
    errBox = h('div', {class: 'alert error', role: 'alert', hidden: true});
    fill(main, 
      pageHead('Images', h('button', {type: 'button', class: 'primary',
                                      onclick: uploadDialog}, 'Create Image')),
      errBox, table.el);
  },
  async refresh() {
    await load(['images']);
    errBox.hidden = !errors.images;
    errBox.textContent = errors.images ? `Images cannot be listed: ${errors.images.message}` : '';
    table.update(data.images || []);
    return (data.images || []).some(imageBusy) || watching();
  },
};

// block_device_mapping: vmsnap's entries (device_index, volume_id,
// snapshot_id, size in bytes, volume_name) or Nova's (device_name,
// snapshot_id, volume_size in GiB, boot_index).
function bdmEntries(text) {
  try {
    const v = JSON.parse(text);
    return Array.isArray(v) ? v.filter(e => e && typeof e === 'object') : null;
  } catch (e) {
    return null;
  }
}

function bdmTable(text) {
  const entries = bdmEntries(text);
  if (!entries) {
    return h('p', {class: 'reason'}, 'The block_device_mapping property is not a JSON list.');
  }
  const t = new Table([
    {label: 'Device', cell: e => e.device_name ||
      (e.device_index !== undefined ? `/dev/vd${String.fromCharCode(97 + Number(e.device_index))}` : '—')},
    {label: 'Volume snapshot', cell: e => {
      const s = vsnap(e.snapshot_id);
      return [s ? `${s.name || s.id} ` : '', h('code', null, String(e.snapshot_id || '—')),
              s ? [' ', badge(titleCase(s.status), s.status === 'available' ? 'ok' : 'busy')] : ''];
    }},
    {label: 'Of volume', cell: e => {
      const v = volume(e.volume_id);
      return (v && v.name) || e.volume_name || e.volume_id || '—';
    }},
    {label: 'Size', cell: e => e.size !== undefined ? fmtSize(e.size)
      : e.volume_size !== undefined ? `${e.volume_size} GiB` : '—'},
  ], {label: 'Volume snapshots of this image', key: e => String(e.snapshot_id),
      sig: e => JSON.stringify(e), empty: 'No volume.'});
  t.update(entries);
  return t.el;
}

// A definition list of [label, key (the property shown, or null), value]:
// the key is shown beside a label that differs from it.
function dl(rows) {
  return h('dl', {class: 'props-list'}, rows.map(([label, key, value]) =>
    h('div', {class: 'dl-row'},
      h('dt', null, label, key && key !== label ? [' ', h('code', null, key)] : null),
      h('dd', {'data-prop': key || null}, value))));
}

function snapValue(img, key) {
  const v = img[key];
  if (key === 'instance_uuid') {
    const s = server(v);
    return [s ? `${s.name} ` : '', h('code', null, v)];
  }
  if (key === 'vmsnap_quiesced') {
    // A snapshot cut without the guest's file systems frozen is only
    // crash-consistent: say so.
    return h('span', {class: v === 'yes' ? 'good' : 'warn',
                      title: v === 'yes' ? 'The file systems were frozen for the snapshot'
                        : 'Crash-consistent only: the file systems were not frozen'}, v);
  }
  if (key === 'base_image_ref') {
    const b = image(v);
    return h('a', {href: `#/images/${encodeURIComponent(v)}`}, b ? b.name || v : v);
  }
  return v;
}

function detail(main, img) {
  const snapRows = SNAP_PROPS.filter(([k]) => img[k] !== undefined && img[k] !== null)
    .map(([k, label]) => [label, k, snapValue(img, k)]);
  const shown = new Set(SNAP_PROPS.map(([k]) => k).concat(['block_device_mapping']));
  const other = customProps(img).filter(([k]) => !shown.has(k));
  fill(main, 
    h('p', {class: 'crumbs'}, h('a', {href: '#/images'}, 'Images'), ' › ',
      img.name || img.id),
    pageHead(img.name || img.id,
      bootable(img) ? h('button', {type: 'button', class: 'primary',
                                   onclick: () => launchDialog(img.id)}, 'Launch') : null,
      h('button', {type: 'button', onclick: () => editDialog(img)}, 'Edit Image'),
      h('button', {type: 'button', class: 'danger',
                   onclick: () => deleteImage(img, () => { location.hash = '#/images'; })},
        'Delete Image')),
    h('section', {'aria-labelledby': 'sec-overview'},
      h('h2', {id: 'sec-overview'}, 'Overview'),
      dl([['ID', null, h('code', null, img.id)],
          ['Status', null, statusCell(img)],
          ['Type', null, titleCase(imageType(img))],
          ['Size', null, fmtSize(img.size)],
          ['Virtual size', null, fmtSize(img.virtual_size)],
          ['Disk format', null, img.disk_format || '—'],
          ['Container format', null, img.container_format || '—'],
          ['Visibility', null, titleCase(img.visibility || '')],
          ['Protected', null, img.protected ? 'Yes' : 'No'],
          ['Checksum (MD5)', null, img.checksum ? h('code', null, img.checksum) : '—'],
          ['Created', null, fmtTime(img.created_at)],
          ['Updated', null, fmtTime(img.updated_at)]])),
    snapRows.length ? h('section', {'aria-labelledby': 'sec-snap'},
      h('h2', {id: 'sec-snap'}, 'Snapshot'), dl(snapRows)) : null,
    img.block_device_mapping !== undefined ? h('section', {'aria-labelledby': 'sec-bdm'},
      h('h2', {id: 'sec-bdm'}, 'Volume snapshots'),
      h('p', {class: 'muted'}, 'Taken at the same instant as the root disk ',
        h('code', null, 'block_device_mapping'), '.'),
      bdmTable(img.block_device_mapping)) : null,
    h('section', {'aria-labelledby': 'sec-props'},
      h('h2', {id: 'sec-props'}, 'Properties'),
      other.length ? dl(other.map(([k, v]) => [k, k, v]))
                   : h('p', {class: 'muted'}, 'No other property.')));
}

// The detail page of one image: #/images/ID.
export function imageDetailView(id) {
  let main = null;
  let lastSig = null;
  return {
    title: 'Image',
    mount(m, refresh) {
      main = m;
      go = refresh;
      fill(main, h('p', {class: 'muted'}, spinner(), ' Loading…'));
    },
    async refresh() {
      let img;
      try {
        img = await api.json('image', 'GET', `/v2/images/${encodeURIComponent(id)}`);
      } catch (e) {
        if (e.status === 401) {
          throw e;
        }
        fill(main, h('p', {class: 'crumbs'}, h('a', {href: '#/images'}, 'Images')),
          h('div', {class: 'alert error', role: 'alert'},
            e.status === 404 ? 'This image does not exist (any more).' : e.message));
        return false;
      }
      const kinds = ['images'];
      if (img.instance_uuid) {
        kinds.push('servers');
      }
      if (img.block_device_mapping !== undefined) {
        kinds.push('vsnaps', 'volumes');
      }
      await load(kinds);
      const sig = JSON.stringify([img, kinds.map(k => data[k])]);
      if (sig !== lastSig && !main.contains(document.activeElement)) {
        lastSig = sig;
        detail(main, img);
      } else if (sig !== lastSig) {
        // Keep the focus: rebuild only when it is not inside.
        lastSig = sig;
        const had = document.activeElement && document.activeElement.textContent;
        detail(main, img);
        const again = [...main.querySelectorAll('button, a')].find(b => b.textContent === had);
        if (again) {
          again.focus();
        }
      }
      return imageBusy(img) || watching();
    },
  };
}
