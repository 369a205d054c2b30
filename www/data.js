// What the page knows of the cloud: the lists it loaded last, the names
// it shows for ids, which states are transitional (and so polled
// faster), and the snapshots it follows until they end.
import * as api from './api.js';
import {alertBox, toast} from './ui.js';

export const data = {servers: null, images: null, flavors: null,
                     volumes: null, vsnaps: null};
// The last error of each list (shown instead of the table).
export const errors = {};

const loaders = {
  servers: () => api.list('compute', '/servers/detail', 'servers'),
  images: () => api.list('image', '/v2/images?limit=200', 'images'),
  flavors: () => api.list('compute', '/flavors/detail', 'flavors'),
  volumes: () => api.list('volume', '/volumes/detail', 'volumes'),
  vsnaps: () => api.list('volume', '/snapshots/detail', 'snapshots'),
};

// Load the lists KINDS at once.  A list that fails keeps its error in
// errors[kind]; an ended session rejects.
export async function load(kinds) {
  await Promise.all(kinds.map(async kind => {
    try {
      data[kind] = await loaders[kind]();
      errors[kind] = null;
    } catch (e) {
      if (e.status === 401) {
        throw e;
      }
      errors[kind] = e;
    }
  }));
  if (kinds.includes('images')) {
    await checkWatches();
  }
}

function byId(list, id) {
  return (list || []).find(x => x.id === id) || null;
}

export function image(id) { return byId(data.images, id); }
export function server(id) { return byId(data.servers, id); }
export function volume(id) { return byId(data.volumes, id); }
export function vsnap(id) { return byId(data.vsnaps, id); }

// The image id of a server ("" or null when booted from a volume).
export function serverImageId(s) {
  return s.image && typeof s.image === 'object' ? s.image.id : '';
}

export function imageType(img) {
  const t = img.image_type;
  return t === 'snapshot' || t === 'backup' ? t : 'image';
}

// A disk a server can boot from (not a kernel or a ramdisk).
export function bootable(img) {
  return img.status === 'active' && !['aki', 'ari', 'ami'].includes(img.disk_format);
}

// The progress of an image being made, 0-100, or null when the API
// does not say: vmsnap_progress, as a number or "42" or "42%".
export function imageProgress(img) {
  const v = img.vmsnap_progress;
  if (v === undefined || v === null || v === '') {
    return null;
  }
  const n = parseFloat(v);
  return isNaN(n) ? null : Math.max(0, Math.min(100, n));
}

const SERVER_BUSY = ['BUILD', 'REBOOT', 'HARD_REBOOT', 'MIGRATING', 'RESIZE',
                     'REBUILD', 'VERIFY_RESIZE', 'REVERT_RESIZE'];
export function serverBusy(s) {
  return SERVER_BUSY.includes(s.status) || !!s['OS-EXT-STS:task_state'];
}
export function imageBusy(i) {
  return ['queued', 'saving', 'uploading', 'importing', 'pending_delete']
    .includes(i.status);
}
export function volumeBusy(v) {
  return /ing$/.test(v.status || '') || v.status === 'reserved';
}
export function vsnapBusy(v) {
  return /ing$/.test(v.status || '');
}

// Snapshots and backups this page asked for, followed until they are
// active or have failed: id -> {serverId, name, what}.
const watches = new Map();

export function watch(imageId, serverId, name, what) {
  if (imageId) {
    watches.set(imageId, {serverId, name, what});
  }
}

export function watching() { return watches.size > 0; }

// Why the snapshot of server SERVERID failed, from its instance actions
// (Nova's os-instance-actions: the action's message, an event's details
// or traceback), or null.
async function failureOf(serverId) {
  try {
    const d = await api.json('compute', 'GET',
      `/servers/${encodeURIComponent(serverId)}/os-instance-actions`);
    const acts = (d.instanceActions || [])
      .filter(a => a.action === 'createImage' || a.action === 'createBackup');
    if (!acts.length) {
      return null;
    }
    const a = acts[0];
    const one = await api.json('compute', 'GET',
      `/servers/${encodeURIComponent(serverId)}/os-instance-actions/` +
      encodeURIComponent(a.request_id));
    const act = (one && one.instanceAction) || a;
    const bad = (act.events || []).find(e => e.result && e.result !== 'Success') || {};
    // The most telling of what the API says: an event's details or
    // traceback, the action's message ("Error: why"), else the result.
    const why = [bad.details, bad.traceback, act.message, bad.result]
      .map(t => (typeof t === 'string' ? t.replace(/^Error:\s*/, '').trim() : ''))
      .find(t => t && !/^error$/i.test(t));
    return why || bad.result || null;
  } catch (e) {
    return null;
  }
}

async function checkWatches() {
  for (const [id, w] of [...watches]) {
    const img = image(id);
    if (img && img.status === 'active') {
      watches.delete(id);
      toast(`${w.what} “${w.name}” is active.`);
    } else if (img && (img.status === 'killed' || img.status === 'deleted')) {
      watches.delete(id);
      alertBox(`${w.what} “${w.name}” failed:`,
               img.fail_reason || `the image is ${img.status}.`, `fail-${id}`);
    } else if (!img && data.images) {
      try {
        await api.call('image', 'GET', `/v2/images/${encodeURIComponent(id)}`);
        continue;
      } catch (e) {
        if (e.status !== 404) {
          continue;
        }
      }
      watches.delete(id);
      const why = await failureOf(w.serverId);
      alertBox(`${w.what} “${w.name}” failed:`,
               why || 'the image was removed before it became active.',
               `fail-${id}`);
    }
  }
}
