// The REST API of vmsnapd, as the OpenStack clients use it
// (shared/research/openstack-api.md): Keystone v3 for the token, then
// Glance v2, Nova v2.1 and Cinder v3 at the endpoints of the token's
// catalog.  The token lives in this tab only (sessionStorage), is sent as
// X-Auth-Token, and never as a cookie: requests are made with
// credentials: "omit".

const KEY = 'vmsnap.session';
let session = null;
let expiredHandler = () => {};

// An error the API answered with (or a network failure: status 0).  The
// message is the API's own, taken from the service's error shape.
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function onExpired(fn) { expiredHandler = fn; }
export function current() { return session; }

// The session kept in this tab, if it has not expired.
export function restore() {
  try {
    const s = JSON.parse(sessionStorage.getItem(KEY) || 'null');
    if (s && s.token && Date.parse(s.expires) > Date.now()) {
      session = s;
    }
  } catch (e) {
    session = null;
  }
  return session;
}

function forget() {
  session = null;
  sessionStorage.removeItem(KEY);
}

// The path of a catalog URL: the page talks to its own origin, whatever
// host name the catalog was built with.
function pathOf(url) {
  try {
    return new URL(url, location.href).pathname.replace(/\/+$/, '');
  } catch (e) {
    return null;
  }
}

function endpointsOf(catalog, projectId) {
  const want = {identity: 'identity', image: 'image', compute: 'compute',
                volumev3: 'volume', 'block-storage': 'volume'};
  const ep = {identity: '/identity/v3', image: '/image',
              compute: '/compute/v2.1', volume: `/volume/v3/${projectId}`};
  const seen = {};
  for (const svc of catalog || []) {
    const name = want[svc.type];
    const pub = (svc.endpoints || []).find(e => e.interface === 'public');
    const path = pub && pathOf(pub.url);
    if (name && path && !seen[name]) {
      ep[name] = path;
      seen[name] = true;
    }
  }
  return ep;
}

// The message of an error response, in the shape of each service:
// Keystone {"error": {...}}, Nova and Cinder {"itemNotFound": {...}},
// Glance an HTML page (parsed inertly, read as text).
async function errorOf(res) {
  const type = res.headers.get('Content-Type') || '';
  let text = '';
  try {
    text = await res.text();
  } catch (e) {
    text = '';
  }
  let msg = '';
  if (type.includes('json')) {
    try {
      const d = JSON.parse(text);
      const v = d && (d.error || Object.values(d)[0]);
      msg = (v && (v.message || v.title)) || (d && d.message) || '';
    } catch (e) {
      msg = '';
    }
  } else if (type.includes('html')) {
    const doc = new DOMParser().parseFromString(text, 'text/html');
    doc.querySelectorAll('title, h1, script, style').forEach(e => e.remove());
    msg = doc.body ? doc.body.textContent : '';
  } else {
    msg = text;
  }
  msg = String(msg).replace(/\s+/g, ' ').trim();
  return new ApiError(res.status, msg || `${res.status} ${res.statusText}`);
}

// Log in as USER with PASSWORD, scoped to PROJECT (names, domain Default).
export async function login(user, password, project) {
  const body = {auth: {
    identity: {methods: ['password'], password: {user: {
      name: user, domain: {name: 'Default'}, password}}},
    scope: {project: {name: project, domain: {name: 'Default'}}}}};
  let res;
  try {
    res = await fetch('/identity/v3/auth/tokens', {
      method: 'POST', credentials: 'omit', cache: 'no-store',
      headers: {'Content-Type': 'application/json', Accept: 'application/json'},
      body: JSON.stringify(body)});
  } catch (e) {
    throw new ApiError(0, 'vmsnapd cannot be reached.');
  }
  if (!res.ok) {
    throw await errorOf(res);
  }
  const token = res.headers.get('X-Subject-Token');
  const t = (await res.json()).token || {};
  if (!token || !t.project) {
    throw new ApiError(0, 'The login answer has no project-scoped token.');
  }
  session = {
    token, expires: t.expires_at,
    user: {id: t.user && t.user.id, name: (t.user && t.user.name) || user},
    project: {id: t.project.id, name: t.project.name || project},
    roles: (t.roles || []).map(r => r.name),
    endpoints: endpointsOf(t.catalog, t.project.id),
  };
  sessionStorage.setItem(KEY, JSON.stringify(session));
  return session;
}

// Revoke the token (best effort) and forget the session.
export async function logout() {
  const s = session;
  forget();
  if (s) {
    try {
      await fetch(`${s.endpoints.identity}/auth/tokens`, {
        method: 'DELETE', credentials: 'omit', cache: 'no-store',
        headers: {'X-Auth-Token': s.token, 'X-Subject-Token': s.token}});
    } catch (e) {
      // The token expires on its own.
    }
  }
}

// SERVICE's endpoint path joined with PATH (which may be a link the API
// gave: absolute, or relative to the service's root).
function urlOf(service, path) {
  const ep = session.endpoints[service];
  if (/^https?:/.test(path)) {
    const u = new URL(path);
    path = u.pathname + u.search;
    return path;
  }
  return ep + path;
}

// A request to SERVICE ("identity", "image", "compute", "volume").
// OPTS: body (an object: sent as JSON, or a string with opts.type),
// type.  Resolves to the Response; rejects with an ApiError.
export async function call(service, method, path, opts = {}) {
  if (!session) {
    throw new ApiError(401, 'You are logged out.');
  }
  const headers = {'X-Auth-Token': session.token, Accept: 'application/json'};
  let body;
  if (opts.body !== undefined) {
    headers['Content-Type'] = opts.type || 'application/json';
    body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  }
  let res;
  try {
    res = await fetch(urlOf(service, path), {
      method, headers, body, credentials: 'omit', cache: 'no-store'});
  } catch (e) {
    throw new ApiError(0, 'vmsnapd cannot be reached.');
  }
  if (res.status === 401) {
    forget();
    expiredHandler();
    throw new ApiError(401, 'Your session has ended: log in again.');
  }
  if (!res.ok) {
    throw await errorOf(res);
  }
  return res;
}

// call(), then the body as JSON (null when there is none).
export async function json(service, method, path, opts) {
  const res = await call(service, method, path, opts);
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

// Every item of a listing, following its pages: Glance's "next",
// Nova's and Cinder's "<key>_links".
export async function list(service, path, key) {
  const out = [];
  const seen = new Set();
  while (path && !seen.has(path) && seen.size < 100) {
    seen.add(path);
    const d = await json(service, 'GET', path);
    out.push(...(d[key] || []));
    const links = d[`${key}_links`] || [];
    const next = d.next || (links.find(l => l.rel === 'next') || {}).href;
    path = next || null;
  }
  return out;
}

// The id of the image a createImage or createBackup made: the body's
// image_id (Nova >= 2.45), else the last segment of Location.
export async function imageIdOf(res) {
  const text = await res.text();
  if (text) {
    try {
      const d = JSON.parse(text);
      if (d && d.image_id) {
        return d.image_id;
      }
    } catch (e) {
      // not JSON: use Location
    }
  }
  const loc = res.headers.get('Location') || '';
  return loc.split('/').pop() || null;
}

// PUT FILE as the data of image ID, streamed from disk by the browser;
// ONPROGRESS(loaded, total) as it goes.  Resolves when Glance answers
// 204; rejects with an ApiError.  Returns {promise, abort}.
export function uploadImage(id, file, onprogress) {
  const x = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    x.open('PUT', urlOf('image', `/v2/images/${encodeURIComponent(id)}/file`));
    x.setRequestHeader('X-Auth-Token', session.token);
    x.setRequestHeader('Content-Type', 'application/octet-stream');
    x.upload.onprogress = e => onprogress(e.loaded, e.lengthComputable ? e.total : file.size);
    x.onload = () => {
      if (x.status >= 200 && x.status < 300) {
        resolve();
        return;
      }
      const fake = new Response(x.responseText, {
        status: x.status, statusText: x.statusText,
        headers: {'Content-Type': x.getResponseHeader('Content-Type') || ''}});
      errorOf(fake).then(reject);
    };
    x.onerror = () => reject(new ApiError(0, 'The upload was cut off.'));
    x.onabort = () => reject(new ApiError(0, 'The upload was cancelled.'));
    x.send(file);
  });
  return {promise, abort: () => x.abort()};
}
