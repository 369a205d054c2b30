// The web page in a real browser: Debian's Chromium, headless, driven by
// playwright-core (never a browser download), against the real vmsnapd
// (the build named by VMSNAPD) on a free port with its own data
// directory.  Speaks TAP.
//
// What a person does, step by step: the page loads (weight, nothing from
// another origin), a wrong password shows an error and nothing else, a
// login with the keyboard, the Instances page; then, when the daemon
// serves Nova and Glance: launch an instance from the test guest's image,
// wait for ACTIVE, Create Snapshot, see it saving then active on Images,
// its detail page (instance_uuid, vmsnap_quiesced=yes), launch an
// instance from the snapshot, delete both; a member of another project
// sees none of it; names are shown as text; log out.  Screenshots of the
// Instances and Images pages go to docs/screenshots/.
//
// Waits are for states (locator.waitFor on texts and elements), with
// timeouts sized for a TCG guest on a loaded 2-core machine.
//
// Environment: VMSNAPD (the daemon), SRCDIR, VMSNAP (the command, to
// read what the catalog holds), VMSNAP_GUEST_DIR (the test guest; built
// by guest/build-guest.sh when unset), WEB_SCREENSHOTS (a directory:
// where screenshots go; default SRCDIR/docs/screenshots).
import {spawn, execFileSync} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const SRCDIR = process.env.SRCDIR || path.resolve(here, '../..');
const VMSNAPD = process.env.VMSNAPD;
const SHOTS = process.env.WEB_SCREENSHOTS || path.join(SRCDIR, 'docs', 'screenshots');
const LONG = 240000; // a TCG guest booting on a busy machine
const T = fs.mkdtempSync(path.join(os.tmpdir(), 'vmsnap-web.'));

// --- TAP ------------------------------------------------------------
let count = 0;
let failed = 0;
function ok(cond, desc, detail) {
  count += 1;
  console.log(`${cond ? '' : 'not '}ok ${count} - ${desc}`);
  if (!cond) {
    failed += 1;
    if (detail) {
      console.log(String(detail).split('\n').map(l => `# ${l}`).join('\n'));
    }
  }
  return cond;
}
function skip(desc, why) {
  count += 1;
  console.log(`ok ${count} - ${desc} # SKIP ${why}`);
}
function diag(s) {
  console.log(String(s).split('\n').map(l => `# ${l}`).join('\n'));
}
// Run FN as one check: ok when it resolves truthy, not ok (with the
// error) when it rejects or returns false.
async function check(desc, fn) {
  try {
    const v = await fn();
    return ok(v !== false, desc);
  } catch (e) {
    return ok(false, desc, e && e.stack ? e.stack : e);
  }
}

// --- The daemon -----------------------------------------------------
const children = [];
function cleanup() {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch (e) {
      // already gone
    }
  }
  for (const f of fs.readdirSync(T, {recursive: true})) {
    if (String(f).endsWith('qemu.pid')) {
      try {
        process.kill(parseInt(fs.readFileSync(path.join(T, f), 'utf8'), 10), 'SIGKILL');
      } catch (e) {
        // not running
      }
    }
  }
  fs.rmSync(T, {recursive: true, force: true});
}
process.on('exit', cleanup);

// Users of the test build's in-memory identity (tests/api/lib.sh):
// USER PASSWORD PROJECT ROLE.
const IDENTITY = 'alice secret1 demo admin\nbob secret2 demo member\n' +
                 'carol secret3 other member\n';

async function until(fn, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) {
      return v;
    }
    if (Date.now() > end) {
      throw new Error(`timed out: ${what}`);
    }
    await new Promise(r => setTimeout(r, 50));
  }
}

async function startDaemon(name) {
  const dd = path.join(T, name);
  fs.mkdirSync(path.join(dd, 'blobs'), {recursive: true});
  fs.writeFileSync(path.join(dd, 'identity'), IDENTITY);
  const log = fs.openSync(path.join(dd, 'log'), 'w');
  const env = {...process.env, VMSNAP_DATA_DIR: dd};
  const p = spawn(VMSNAPD, ['--listen', '127.0.0.1:0', '--port-file', path.join(dd, 'port'),
                            '--data-dir', dd, '--www-dir', path.join(SRCDIR, 'www')],
                  {stdio: ['ignore', log, log], env});
  children.push(p);
  const port = await until(() => {
    try {
      return fs.readFileSync(path.join(dd, 'port'), 'utf8').trim();
    } catch (e) {
      return null;
    }
  }, 60000, 'the port file');
  return {base: `http://127.0.0.1:${port}`, dir: dd, proc: p, log: path.join(dd, 'log')};
}

// --- The REST API, for set-up and for checks from outside the page ----
async function token(base, user, password, project) {
  const r = await fetch(`${base}/identity/v3/auth/tokens`, {
    method: 'POST', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({auth: {identity: {methods: ['password'], password: {user: {
      name: user, domain: {name: 'Default'}, password}}},
    scope: {project: {name: project, domain: {name: 'Default'}}}}})});
  if (r.status !== 201) {
    throw new Error(`login ${user}: ${r.status}`);
  }
  const t = await r.json();
  return {token: r.headers.get('X-Subject-Token'), project: t.token.project.id};
}
async function rest(base, tok, method, p, body, type) {
  const headers = {'X-Auth-Token': tok};
  if (body !== undefined && !(body instanceof Buffer)) {
    body = JSON.stringify(body);
    headers['Content-Type'] = type || 'application/json';
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/octet-stream';
  }
  const r = await fetch(base + p, {method, headers, body});
  const text = await r.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch (e) {
    json = null;
  }
  return {status: r.status, json, text, headers: r.headers};
}

// Upload the test guest as OpenStack keeps such a guest: a kernel, a
// ramdisk, and a root disk naming them; hw_qemu_guest_agent=yes so that
// snapshots are quiesced.  Returns the root image's id.
async function uploadGuest(base, tok) {
  let dir = process.env.VMSNAP_GUEST_DIR;
  if (!dir) {
    dir = execFileSync(path.join(SRCDIR, 'guest', 'build-guest.sh'), ['--print-dir'],
                       {encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit']}).trim();
  }
  async function one(name, file, fmt, props) {
    const c = await rest(base, tok, 'POST', '/image/v2/images',
      {name, disk_format: fmt, container_format: 'bare', visibility: 'private', ...props});
    if (c.status !== 201) {
      throw new Error(`create ${name}: ${c.status} ${c.text}`);
    }
    const u = await rest(base, tok, 'PUT', `/image/v2/images/${c.json.id}/file`,
                         fs.readFileSync(path.join(dir, file)));
    if (u.status !== 204) {
      throw new Error(`upload ${name}: ${u.status} ${u.text}`);
    }
    return c.json.id;
  }
  const kid = await one('guest-kernel', 'vmlinuz', 'aki', {});
  const rid = await one('guest-ramdisk', 'initrd.img', 'ari', {});
  return one('test-guest', 'root.qcow2', 'qcow2',
             {kernel_id: kid, ramdisk_id: rid, hw_qemu_guest_agent: 'yes'});
}

// The steps of the walk-through (seed 000 in the page).
const STEPS = [
  'launch an instance from the test guest\'s image; it becomes ACTIVE',
  'Create Snapshot with a name; the Images page shows it saving',
  'the snapshot becomes active on the Images page',
  'its detail page reads instance_uuid and vmsnap_quiesced=yes',
  'launch a new instance from the snapshot; it becomes ACTIVE',
  'a member of another project does not see these instances',
  'names from the API are shown as text, never as markup',
  'delete both instances, with confirmation',
  'screenshots of the Instances and Images pages',
];

// --- The browser ------------------------------------------------------
const {chromium} = await import(path.join(here, 'node_modules', 'playwright-core', 'index.mjs'));

async function browser() {
  const profile = fs.mkdtempSync(path.join(T, 'profile.'));
  return chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium', headless: true,
    viewport: {width: 1280, height: 800},
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
}

async function login(page, user, password, project) {
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByLabel('Project').fill(project);
  await page.getByRole('button', {name: 'Log in'}).click();
}

// The row of a table whose name cell is NAME.
function row(page, name) {
  return page.getByRole('row').filter({has: page.getByText(name, {exact: true})});
}

async function main() {
  if (!VMSNAPD) {
    ok(false, 'VMSNAPD names the daemon to test');
    return;
  }
  const d = await startDaemon('main');
  ok(true, 'vmsnapd starts on a free port with its own data directory');
  const ctx = await browser();
  const page = await ctx.newPage();
  const pageErrors = [];
  page.on('pageerror', e => pageErrors.push(e.message));
  page.on('console', m => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) {
      pageErrors.push(m.text());
    }
  });

  // 1. The page as it loads: weight and origin.
  const loaded = [];
  page.on('response', r => loaded.push(r));
  await page.goto(`${d.base}/`);
  await page.getByLabel('User name').waitFor();
  let bytes = 0;
  for (const r of loaded) {
    bytes += (await r.body().catch(() => Buffer.alloc(0))).length;
  }
  diag(`first page: ${loaded.length} files, ${bytes} bytes`);
  ok(bytes > 0 && bytes < 100 * 1024, `the first page weighs under 100 KB (${bytes} bytes)`);
  ok(loaded.every(r => r.url().startsWith(`${d.base}/`)),
     'nothing is loaded from another origin', loaded.map(r => r.url()).join('\n'));
  await check('every control of the login form has a label', async () => {
    const unlabelled = await page.evaluate(() =>
      [...document.querySelectorAll('#login-form input')]
        .filter(i => !i.labels || i.labels.length === 0).map(i => i.id));
    return unlabelled.length === 0;
  });

  // 2. A wrong password: an error, and no page content.
  await check('a wrong password shows an error and no page content', async () => {
    await login(page, 'alice', 'wrong', 'demo');
    await page.getByRole('alert').filter({hasText: 'wrong'}).waitFor();
    const hidden = await page.locator('#app-view').isHidden();
    const empty = await page.locator('#main').evaluate(m => m.childElementCount === 0);
    return hidden && empty && !(await page.getByRole('navigation').isVisible());
  });

  // 3. Log in with the keyboard only.
  await check('log in with the keyboard: Tab between labelled fields, Enter submits', async () => {
    await page.getByLabel('User name').fill('');
    await page.getByLabel('User name').focus();
    await page.keyboard.type('alice');
    await page.keyboard.press('Tab');
    await page.keyboard.type('secret1');
    await page.keyboard.press('Tab');
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.type('demo');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', {name: 'Instances'}).waitFor();
    return (await page.locator('#who').textContent()).includes('alice');
  });
  await check('the token is kept in the tab only: no cookie', async () => {
    const cookies = await ctx.cookies();
    const kept = await page.evaluate(() => sessionStorage.getItem('vmsnap.session'));
    return cookies.length === 0 && kept && JSON.parse(kept).token.length > 20;
  });

  // Does the daemon serve Nova and Glance yet?
  const alice = await token(d.base, 'alice', 'secret1', 'demo');
  const probe = await rest(d.base, alice.token, 'GET', '/compute/v2.1/servers/detail');
  const probeImg = await rest(d.base, alice.token, 'GET', '/image/v2/images');
  const services = probe.status === 200 && probeImg.status === 200;
  if (!services) {
    diag(`the daemon serves no Nova or Glance yet (servers: ${probe.status}, images: ${probeImg.status})`);
    await check('without the compute API, the Instances page says why, in the API\'s words', async () => {
      await page.getByRole('alert').filter({hasText: 'Instances cannot be listed'}).waitFor();
      return true;
    });
  }
  const why = 'this vmsnapd serves no Nova and Glance API yet';
  if (services) {
    await flow(d, page, alice);
  } else {
    for (const s of STEPS) {
      skip(s, why);
    }
  }

  // 4. Narrow screens: nothing wider than the screen.
  await check('a narrow screen (390 px): no horizontal scrolling', async () => {
    await page.setViewportSize({width: 390, height: 800});
    await page.getByRole('link', {name: 'Images'}).click();
    await page.getByRole('heading', {name: 'Images'}).waitFor();
    const over = await page.evaluate(() => document.documentElement.scrollWidth - innerWidth);
    await page.setViewportSize({width: 1280, height: 800});
    return over <= 0;
  });

  // 5. Log out: back to the form, nothing left, the token revoked.
  await check('log out: the login form, no content, the token refused by the API', async () => {
    const kept = JSON.parse(await page.evaluate(() => sessionStorage.getItem('vmsnap.session')));
    await page.getByRole('button', {name: 'Log out'}).click();
    await page.getByRole('button', {name: 'Log in'}).waitFor();
    const empty = await page.locator('#main').evaluate(m => m.childElementCount === 0);
    const gone = await page.evaluate(() => sessionStorage.getItem('vmsnap.session'));
    const r = await rest(d.base, kept.token, 'GET', '/identity/v3/auth/catalog');
    return empty && gone === null && r.status === 401;
  });
  await check('a reload after logging out shows the login form', async () => {
    await page.reload();
    await page.getByRole('button', {name: 'Log in'}).waitFor();
    return await page.locator('#app-view').isHidden();
  });
  ok(pageErrors.length === 0, 'no script error on the page', pageErrors.join('\n'));
  await ctx.close();
}

// The walk-through of seed 000 in the page.
async function flow(d, page, alice) {
  let guest = null;
  const vm1 = 'web-vm1';
  const snapName = 'web-snap1';
  const vm2 = 'web-vm2';
  await check(STEPS[0], async () => {
    guest = await uploadGuest(d.base, alice.token);
    await page.getByRole('link', {name: 'Instances'}).click();
    await page.getByRole('button', {name: 'Launch Instance'}).click();
    const dlg = page.getByRole('dialog');
    await dlg.getByLabel('Instance Name').fill(vm1);
    await dlg.getByLabel('Source').selectOption(guest);
    await dlg.getByRole('button', {name: 'Launch Instance'}).click();
    await row(page, vm1).getByText('Active', {exact: true}).waitFor({timeout: LONG});
    return true;
  });
  await check(STEPS[1], async () => {
    await row(page, vm1).getByRole('button', {name: 'Create Snapshot'}).click();
    const dlg = page.getByRole('dialog');
    await dlg.getByLabel('Snapshot Name').fill(snapName);
    await dlg.getByRole('button', {name: 'Create Snapshot'}).click();
    await page.getByRole('heading', {name: 'Images'}).waitFor();
    await row(page, snapName).getByText(/^(Queued|Saving)$/).waitFor();
    return true;
  });
  await check(STEPS[2], async () => {
    await row(page, snapName).getByText('Active', {exact: true}).waitFor({timeout: LONG});
    fs.mkdirSync(SHOTS, {recursive: true});
    return true;
  });
  await check(STEPS[3], async () => {
    await row(page, snapName).getByRole('link', {name: snapName}).click();
    const uuid = page.locator('dd[data-prop=instance_uuid]');
    await uuid.waitFor();
    const q = await page.locator('dd[data-prop=vmsnap_quiesced]').textContent();
    const servers = await rest(d.base, alice.token, 'GET', '/compute/v2.1/servers/detail');
    const s = servers.json.servers.find(x => x.name === vm1);
    return (await uuid.textContent()).includes(s.id) && q.trim() === 'yes';
  });
  await check(STEPS[4], async () => {
    await page.getByRole('button', {name: 'Launch'}).click();
    const dlg = page.getByRole('dialog');
    await dlg.getByLabel('Instance Name').fill(vm2);
    await dlg.getByRole('button', {name: 'Launch Instance'}).click();
    await page.getByRole('heading', {name: 'Instances'}).waitFor();
    await row(page, vm2).getByText('Active', {exact: true}).waitFor({timeout: LONG});
    await page.screenshot({path: path.join(SHOTS, 'instances.png')});
    return true;
  });
  await check(STEPS[5], async () => {
    const other = await page.context().newPage();
    await other.goto(`${d.base}/`);
    await login(other, 'carol', 'secret3', 'other');
    await other.getByRole('heading', {name: 'Instances'}).waitFor();
    await other.getByText('No instances').waitFor();
    const seen = await other.getByText(vm1).count() + await other.getByText(vm2).count();
    await other.getByRole('link', {name: 'Images'}).click();
    await other.getByRole('heading', {name: 'Images'}).waitFor();
    await other.getByRole('table').waitFor();
    const snaps = await other.getByText(snapName).count();
    await other.close();
    return seen === 0 && snaps === 0;
  });
  await check(STEPS[6], async () => {
    const evil = '<img src=x onerror="window.pwned=1">&amp;';
    const r = await rest(d.base, alice.token, 'PATCH', `/image/v2/images/${guest}`,
      [{op: 'replace', path: '/name', value: evil}],
      'application/openstack-images-v2.1-json-patch');
    await page.getByRole('link', {name: 'Images'}).click();
    await page.getByRole('link', {name: evil, exact: true}).waitFor();
    const pwned = await page.evaluate(() => window.pwned === 1);
    const imgs = await page.locator('main img').count();
    await rest(d.base, alice.token, 'PATCH', `/image/v2/images/${guest}`,
      [{op: 'replace', path: '/name', value: 'test-guest'}],
      'application/openstack-images-v2.1-json-patch');
    await page.getByRole('link', {name: 'test-guest', exact: true}).waitFor();
    await page.screenshot({path: path.join(SHOTS, 'images.png')});
    return r.status === 200 && !pwned && imgs === 0;
  });
  await check(STEPS[7], async () => {
    await page.getByRole('link', {name: 'Instances'}).click();
    for (const name of [vm2, vm1]) {
      await row(page, name).getByRole('button', {name: 'More'}).click();
      await row(page, name).getByRole('menuitem', {name: 'Delete Instance'}).click();
      const dlg = page.getByRole('dialog');
      await dlg.getByText('The instance and its root disk are deleted').waitFor();
      await dlg.getByRole('button', {name: 'Delete Instance'}).click();
      await row(page, name).waitFor({state: 'detached', timeout: LONG});
    }
    return true;
  });
  await check(STEPS[8], async () =>
    fs.statSync(path.join(SHOTS, 'instances.png')).size > 10000 &&
    fs.statSync(path.join(SHOTS, 'images.png')).size > 10000);
}

try {
  await main();
} catch (e) {
  ok(false, 'the test ran to its end', e && e.stack ? e.stack : e);
}
console.log(`1..${count}`);
// The daemons keep the event loop alive: end here (cleanup runs on exit).
process.exit(failed ? 1 : 0);
