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
// instance from the snapshot, Pause and Resume, Create Backup, a volume
// created, attached and snapshotted with the instance ("All volumes"),
// a snapshot that fails showing the service's reason, delete both
// instances; a member of another project sees none of it; names are
// shown as text; log out.  Screenshots of the
// Instances and Images pages go to docs/screenshots/.
//
// Waits are for states (locator.waitFor on texts and elements), with
// timeouts sized for a TCG guest on a loaded 2-core machine.
//
// Environment: VMSNAPD (the daemon), SRCDIR, VMSNAP (the command: it
// makes the projects and users), VMSNAP_GUEST_DIR (the test guest; built
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

// The users: USER PASSWORD PROJECT, each a member of its project (no
// admin: an admin sees every project).
const USERS = [['alice', 'secret1', 'demo'], ['carol', 'secret3', 'other']];

// Poll FN every STEP ms until it returns something true; reject after MS.
async function until(fn, ms, what, step = 50) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) {
      return v;
    }
    if (Date.now() > end) {
      throw new Error(`timed out: ${what}`);
    }
    await new Promise(r => setTimeout(r, step));
  }
}

// The command, on data directory DD.
function vmsnap(dd, ...args) {
  return execFileSync(process.env.VMSNAP, args, {
    encoding: 'utf8', env: {...process.env, VMSNAP_DATA_DIR: dd},
    stdio: ['ignore', 'pipe', 'pipe']});
}

async function startDaemon(name) {
  const dd = path.join(T, name);
  fs.mkdirSync(dd, {recursive: true});
  for (const [user, password, project] of USERS) {
    const pw = path.join(T, `${user}.pw`);
    fs.writeFileSync(pw, `${password}\n`, {mode: 0o600});
    try {
      vmsnap(dd, 'project', 'create', project);
    } catch (e) {
      // made already, for another user
    }
    vmsnap(dd, 'user', 'create', user, '--project', project, '--password-file', pw);
  }
  const log = fs.openSync(path.join(dd, 'log'), 'w');
  // Copies are rate-limited (a setting users have too) so that a
  // snapshot of the small test guest stays "saving" long enough for the
  // page to show its progress.
  const env = {VMSNAP_COPY_RATE_LIMIT: '4M', ...process.env, VMSNAP_DATA_DIR: dd};
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

// The Images page on its own (Glance).
const IMAGE_STEPS = [
  'Create Image from a file (the guest\'s root disk, with properties): the progress bar fills, the image is active',
  'an upload the image service refuses shows its reason, in the dialog and in the table (killed)',
  'the detail page; Edit Image adds a property',
  'names from the API are shown as text, never as markup',
  'a member of another project does not see this project\'s images',
  'Delete Image asks, then the killed image is gone',
];

// The steps of the walk-through (seed 000 in the page).
const STEPS = [
  'launch an instance from the test guest\'s image; it becomes ACTIVE',
  'Create Snapshot with a name; the Images page shows it saving',
  'the snapshot becomes active on the Images page',
  'its detail page reads instance_uuid and vmsnap_quiesced=yes',
  'launch a new instance from the snapshot; it becomes ACTIVE',
  'Pause, then Resume, from the row\'s menu',
  'Create Backup (type, rotation, incremental): a backup on the Images page, active, in the chunk store',
  'Volumes: Create Volume (1 GiB); it becomes Available',
  'Attach it to the instance; it is In-use, attached to it',
  'Create Snapshot with "All volumes": its detail page shows the volume snapshot block_device_mapping names, and Volume Snapshots lists it',
  'Delete the instance snapshot, then its volume snapshot (kept apart, as Cinder keeps them), Detach the volume, Delete it',
  'a snapshot that fails (a failing fsfreeze hook, os_require_quiesce=yes) shows its reason',
  'a member of another project does not see these instances',
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

// The link to section NAME in the navigation bar.
function nav(page, name) {
  return page.getByRole('navigation').getByRole('link', {name, exact: true});
}

// The row of a table whose name cell is NAME.
function row(page, name) {
  return page.getByRole('row').filter({has: page.getByText(name, {exact: true})});
}

async function main() {
  if (!VMSNAPD || !process.env.VMSNAP) {
    ok(false, 'VMSNAPD and VMSNAP name the daemon and the command to test');
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

  // What the daemon serves: Glance now; Nova and Cinder as the API
  // branch brings them.
  const alice = await token(d.base, 'alice', 'secret1', 'demo');
  const probe = await rest(d.base, alice.token, 'GET', '/compute/v2.1/servers/detail');
  const probeImg = await rest(d.base, alice.token, 'GET', '/image/v2/images');
  const glance = probeImg.status === 200;
  const nova = probe.status === 200 && glance;
  if (!nova) {
    diag(`no Nova in this vmsnapd yet (GET servers/detail: ${probe.status})`);
    await check('without the compute API, the Instances page says why, in the API\'s words', async () => {
      await page.getByRole('alert').filter({hasText: 'Instances cannot be listed'}).waitFor();
      return true;
    });
  }
  let guest = null;
  if (glance) {
    guest = await imagesPart(d, page, alice);
  } else {
    for (const s of IMAGE_STEPS) {
      skip(s, 'this vmsnapd serves no Glance API yet');
    }
  }
  if (nova && guest) {
    await computePart(d, page, alice, guest);
  } else {
    for (const s of STEPS) {
      skip(s, 'this vmsnapd serves no Nova API yet');
    }
  }

  // 4. Narrow screens: nothing wider than the screen.
  await check('a narrow screen (390 px): no horizontal scrolling', async () => {
    await page.setViewportSize({width: 390, height: 800});
    await nav(page, 'Images').click();
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

// The test guest's directory (built once, cached).
function guestDir() {
  return process.env.VMSNAP_GUEST_DIR ||
    execFileSync(path.join(SRCDIR, 'guest', 'build-guest.sh'), ['--print-dir'],
                 {encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit']}).trim();
}

// Create an image through the REST API (set-up, not under test).
async function restImage(base, tok, name, file, fmt, props) {
  const c = await rest(base, tok, 'POST', '/image/v2/images',
    {name, disk_format: fmt, container_format: 'bare', visibility: 'private', ...props});
  if (c.status !== 201) {
    throw new Error(`create ${name}: ${c.status} ${c.text}`);
  }
  const u = await rest(base, tok, 'PUT', `/image/v2/images/${c.json.id}/file`,
                       fs.readFileSync(file));
  if (u.status !== 204) {
    throw new Error(`upload ${name}: ${u.status} ${u.text}`);
  }
  return c.json.id;
}

// The Images page with Glance alone.  Returns the id of the test guest's
// root image (uploaded through the page), or null.
async function imagesPart(d, page, alice) {
  const dir = guestDir();
  let guest = null;
  await check(IMAGE_STEPS[0], async () => {
    // The guest boots as OpenStack boots such an image: a kernel and a
    // ramdisk (set up through the API), and a root disk naming them,
    // uploaded here through the page.
    const kid = await restImage(d.base, alice.token, 'guest-kernel',
                                path.join(dir, 'vmlinuz'), 'aki', {});
    const rid = await restImage(d.base, alice.token, 'guest-ramdisk',
                                path.join(dir, 'initrd.img'), 'ari', {});
    await nav(page, 'Images').click();
    await page.getByRole('button', {name: 'Create Image'}).click();
    const dlg = page.getByRole('dialog');
    await dlg.getByLabel('File').setInputFiles(path.join(dir, 'root.qcow2'));
    await dlg.getByLabel('Image Name').fill('test-guest');
    await dlg.getByLabel('Format').selectOption('qcow2');
    await dlg.getByLabel('Guest agent installed').check();
    for (const [k, v] of [['kernel_id', kid], ['ramdisk_id', rid]]) {
      await dlg.getByRole('button', {name: 'Add property'}).click();
      await dlg.getByLabel('Property name').last().fill(k);
      await dlg.getByLabel('Property value').last().fill(v);
    }
    // Record how far the progress bar went.
    await page.evaluate(() => {
      window.uploadMax = 0;
      new MutationObserver(() => {
        const b = document.querySelector('dialog .upload-progress progress');
        if (b) {
          window.uploadMax = Math.max(window.uploadMax, b.value);
        }
      }).observe(document.body, {subtree: true, attributes: true, childList: true,
                                 characterData: true});
    });
    const put = page.waitForRequest(r => r.method() === 'PUT' && /\/file$/.test(r.url()));
    await dlg.getByRole('button', {name: 'Create Image'}).click();
    const req = await put;
    await row(page, 'test-guest').getByText('Active', {exact: true}).waitFor({timeout: LONG});
    const max = await page.evaluate(() => window.uploadMax);
    const imgs = await rest(d.base, alice.token, 'GET', '/image/v2/images?name=test-guest');
    const img = imgs.json.images[0];
    guest = img.id;
    const size = fs.statSync(path.join(dir, 'root.qcow2')).size;
    diag(`upload: PUT ${req.headers()['content-type']}, bar reached ${max}%`);
    return max === 100 && img.size === size && img.kernel_id === kid &&
           img.ramdisk_id === rid && img.hw_qemu_guest_agent === 'yes' &&
           img.visibility === 'private';
  });
  await check(IMAGE_STEPS[1], async () => {
    const bad = path.join(T, 'not-a-disk.qcow2');
    fs.writeFileSync(bad, 'this is not a qcow2 image\n'.repeat(1000));
    await page.getByRole('button', {name: 'Create Image'}).click();
    const dlg = page.getByRole('dialog');
    await dlg.getByLabel('File').setInputFiles(bad);
    await dlg.getByLabel('Image Name').fill('broken-upload');
    await dlg.getByRole('button', {name: 'Create Image'}).click();
    const alert = dlg.getByRole('alert');
    await alert.waitFor();
    const why = (await alert.textContent()).trim();
    diag(`refused upload: ${why}`);
    await dlg.getByRole('button', {name: 'Cancel'}).click();
    await dlg.waitFor({state: 'detached'});
    // The table shows the image killed, with the same reason.
    await row(page, 'broken-upload').getByText('Killed', {exact: true}).waitFor();
    const reason = await row(page, 'broken-upload').locator('.reason').textContent();
    return /not a valid qcow2 image/.test(why) && !/internal error/i.test(why) &&
           /not a valid qcow2 image/.test(reason);
  });
  await check(IMAGE_STEPS[2], async () => {
    await row(page, 'test-guest').getByRole('link', {name: 'test-guest'}).click();
    await page.locator('dd[data-prop=kernel_id]').waitFor();
    await page.getByRole('button', {name: 'Edit Image'}).click();
    const dlg = page.getByRole('dialog');
    await dlg.getByRole('button', {name: 'Add property'}).click();
    await dlg.getByLabel('Property name').last().fill('os_distro');
    await dlg.getByLabel('Property value').last().fill('vmsnap-guest');
    await dlg.getByRole('button', {name: 'Save'}).click();
    await page.locator('dd[data-prop=os_distro]', {hasText: 'vmsnap-guest'}).waitFor();
    const img = await rest(d.base, alice.token, 'GET', `/image/v2/images/${guest}`);
    return img.json.os_distro === 'vmsnap-guest' && img.json.kernel_id !== undefined;
  });
  await check(IMAGE_STEPS[3], async () => {
    const evil = '<img src=x onerror="window.pwned=1">&amp;';
    const r = await rest(d.base, alice.token, 'PATCH', `/image/v2/images/${guest}`,
      [{op: 'replace', path: '/name', value: evil}],
      'application/openstack-images-v2.1-json-patch');
    await nav(page, 'Images').click();
    await page.getByRole('link', {name: evil, exact: true}).waitFor();
    const pwned = await page.evaluate(() => window.pwned === 1);
    const imgs = await page.locator('main img').count();
    await rest(d.base, alice.token, 'PATCH', `/image/v2/images/${guest}`,
      [{op: 'replace', path: '/name', value: 'test-guest'}],
      'application/openstack-images-v2.1-json-patch');
    await page.getByRole('link', {name: 'test-guest', exact: true}).waitFor();
    return r.status === 200 && !pwned && imgs === 0;
  });
  await check(IMAGE_STEPS[4], async () => {
    const other = await page.context().newPage();
    await other.goto(`${d.base}/`);
    await login(other, 'carol', 'secret3', 'other');
    await other.getByRole('heading', {name: 'Instances'}).waitFor();
    await nav(other, 'Images').click();
    await other.getByRole('heading', {name: 'Images'}).waitFor();
    await other.getByText('No images').waitFor();
    const seen = await other.getByText('test-guest').count();
    await other.close();
    return seen === 0;
  });
  await check(IMAGE_STEPS[7], async () => {
    await nav(page, 'Images').click();
    const id = (await rest(d.base, alice.token, 'GET', '/image/v2/images?name=broken-upload'))
      .json.images[0].id;
    await row(page, 'broken-upload').getByRole('button', {name: 'More'}).click();
    await row(page, 'broken-upload').getByRole('menuitem', {name: 'Delete Image'}).click();
    const dlg = page.getByRole('dialog');
    await dlg.getByText('this cannot be undone').waitFor();
    await dlg.getByRole('button', {name: 'Delete Image'}).click();
    await row(page, 'broken-upload').waitFor({state: 'detached'});
    const r = await rest(d.base, alice.token, 'GET', `/image/v2/images/${id}`);
    fs.mkdirSync(SHOTS, {recursive: true});
    await page.screenshot({path: path.join(SHOTS, 'images.png')});
    return r.status === 404;
  });
  return guest;
}

// The walk-through of seed 000 in the page (Nova and Glance).
async function computePart(d, page, alice, guest) {
  const vm1 = 'web-vm1';
  const vm2 = 'web-vm2';
  const snapName = 'web-snap1';
  const badName = 'web-snap-bad';
  await check(STEPS[0], async () => {
    await nav(page, 'Instances').click();
    await page.getByRole('button', {name: 'Launch Instance'}).click();
    const dlg = page.getByRole('dialog');
    await dlg.getByLabel('Instance Name').fill(vm1);
    await dlg.getByLabel('Source').selectOption(guest);
    await dlg.getByRole('button', {name: 'Launch Instance'}).click();
    await row(page, vm1).getByText('Active', {exact: true}).waitFor({timeout: LONG});
    // ACTIVE is QEMU running; the guest's agent answers a few seconds
    // later.  A snapshot taken before would be crash-consistent
    // (vmsnap_quiesced=no), so wait for the agent as a user would.
    const servers = await rest(d.base, alice.token, 'GET', '/compute/v2.1/servers/detail');
    const id = servers.json.servers.find(x => x.name === vm1).id;
    await until(() => {
      try {
        vmsnap(d.dir, 'agent', 'ping', id);
        return true;
      } catch (e) {
        return false;
      }
    }, LONG, 'the guest agent of the instance', 1000);
    return true;
  });
  await check(STEPS[1], async () => {
    await row(page, vm1).getByRole('button', {name: 'Create Snapshot'}).click();
    const dlg = page.getByRole('dialog');
    await dlg.getByLabel('Snapshot Name').fill(snapName);
    await dlg.getByRole('button', {name: 'Create Snapshot'}).click();
    await page.getByRole('heading', {name: 'Images'}).waitFor();
    await row(page, snapName).getByText(/^(Queued|Saving)$/).waitFor();
    // The copy's progress, from vmsnap_progress.
    await row(page, snapName).locator('.pct').filter({hasText: /\d+%/}).waitFor({timeout: LONG});
    diag(`saving: ${await row(page, snapName).locator('.status-saving').textContent()}`);
    return true;
  });
  await check(STEPS[2], async () => {
    await row(page, snapName).getByText('Active', {exact: true}).waitFor({timeout: LONG});
    await page.screenshot({path: path.join(SHOTS, 'images.png')});
    return true;
  });
  await check(STEPS[3], async () => {
    await row(page, snapName).getByRole('link', {name: snapName}).click();
    const uuid = page.locator('dd[data-prop=instance_uuid]');
    await uuid.waitFor();
    const q = await page.locator('dd[data-prop=vmsnap_quiesced]').textContent();
    const servers = await rest(d.base, alice.token, 'GET', '/compute/v2.1/servers/detail');
    const s = servers.json.servers.find(x => x.name === vm1);
    await page.screenshot({path: path.join(SHOTS, 'snapshot.png'), fullPage: true});
    const u = await uuid.textContent();
    diag(`instance_uuid: ${u}; vmsnap_quiesced: ${q}`);
    return u.includes(s.id) && q.trim() === 'yes';
  });
  await check(STEPS[4], async () => {
    await page.getByRole('button', {name: 'Launch', exact: true}).click();
    const dlg = page.getByRole('dialog');
    await dlg.getByLabel('Instance Name').fill(vm2);
    await dlg.getByRole('button', {name: 'Launch Instance'}).click();
    await page.getByRole('heading', {name: 'Instances'}).waitFor();
    await row(page, vm2).getByText('Active', {exact: true}).waitFor({timeout: LONG});
    await page.screenshot({path: path.join(SHOTS, 'instances.png')});
    return true;
  });
  await check(STEPS[5], async () => {
    await row(page, vm2).getByRole('button', {name: 'More'}).click();
    await row(page, vm2).getByRole('menuitem', {name: 'Pause'}).click();
    await row(page, vm2).getByText('Paused', {exact: true}).first().waitFor({timeout: LONG});
    await row(page, vm2).getByRole('button', {name: 'More'}).click();
    await row(page, vm2).getByRole('menuitem', {name: 'Resume'}).click();
    await row(page, vm2).getByText('Active', {exact: true}).waitFor({timeout: LONG});
    return true;
  });
  await check(STEPS[6], async () => {
    await row(page, vm2).getByRole('button', {name: 'More'}).click();
    await row(page, vm2).getByRole('menuitem', {name: 'Create Backup'}).click();
    const dlg = page.getByRole('dialog');
    await dlg.getByLabel('Backup Name').fill('web-backup1');
    await dlg.getByLabel('Backup Type').fill('weekly');
    await dlg.getByLabel('Rotation').fill('1');
    await dlg.getByLabel('Incremental').check();
    await dlg.getByRole('button', {name: 'Create Backup'}).click();
    await dlg.waitFor({state: 'detached'});
    await nav(page, 'Images').click();
    const r = row(page, 'web-backup1');
    await r.getByText('Active', {exact: true}).waitFor({timeout: LONG});
    const type = await r.getByRole('cell').nth(1).textContent();
    const imgs = await rest(d.base, alice.token, 'GET', '/image/v2/images?name=web-backup1');
    const b = imgs.json.images[0];
    diag(`backup: ${type}, backup_type=${b.backup_type}, store=${b.vmsnap_backup_store}`);
    await nav(page, 'Instances').click();
    return type === 'Backup' && b.image_type === 'backup' && b.backup_type === 'weekly' &&
      b.vmsnap_backup_store === 'chunks';
  });
  await volumesPart(d, page, alice, vm1);
  await check(STEPS[11], async () => {
    // Seed 000: a failing hook abandons a snapshot that must be quiesced.
    // The hook is put in the guest with the agent; the source image asks
    // for quiesce.
    const servers = await rest(d.base, alice.token, 'GET', '/compute/v2.1/servers/detail');
    const id = servers.json.servers.find(x => x.name === vm1).id;
    const hook = '/etc/qemu/fsfreeze-hook.d/50-fail';
    vmsnap(d.dir, 'agent', 'exec', id, '--', '/bin/sh', '-c',
           `printf '#!/bin/sh\\nexit 1\\n' > ${hook} && chmod +x ${hook}`);
    const patch = (op, value) => rest(d.base, alice.token, 'PATCH', `/image/v2/images/${guest}`,
      [{op, path: '/os_require_quiesce', ...(value ? {value} : {})}],
      'application/openstack-images-v2.1-json-patch');
    const p = await patch('add', 'yes');
    let why = '';
    try {
      await nav(page, 'Instances').click();
      await row(page, vm1).getByRole('button', {name: 'Create Snapshot'}).click();
      const dlg = page.getByRole('dialog');
      await dlg.getByLabel('Snapshot Name').fill(badName);
      await dlg.getByRole('button', {name: 'Create Snapshot'}).click();
      const alert = page.getByRole('alert').filter({hasText: `“${badName}” failed`});
      await alert.waitFor({timeout: LONG});
      why = (await alert.locator('.reason').textContent()).trim();
      diag(`failed snapshot: ${why}`);
      await page.screenshot({path: path.join(T, 'failed.png')});
    } finally {
      vmsnap(d.dir, 'agent', 'exec', id, '--', '/bin/rm', '-f', hook);
      await patch('remove');
    }
    // Nothing is left of it on the Images page.
    await row(page, badName).waitFor({state: 'detached'});
    return p.status === 200 && /os_require_quiesce/.test(why) && /hook|freez/i.test(why) &&
           !/internal error/i.test(why);
  });
  await check(STEPS[12], async () => {
    const other = await page.context().newPage();
    await other.goto(`${d.base}/`);
    await login(other, 'carol', 'secret3', 'other');
    await other.getByRole('heading', {name: 'Instances'}).waitFor();
    await other.getByText('No instances').waitFor();
    const seen = await other.getByText(vm1).count() + await other.getByText(vm2).count();
    await nav(other, 'Images').click();
    await other.getByText('No images').waitFor();
    const snaps = await other.getByText(snapName).count();
    await other.close();
    return seen === 0 && snaps === 0;
  });
  await check(STEPS[13], async () => {
    await nav(page, 'Instances').click();
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
  await check(STEPS[14], async () =>
    fs.statSync(path.join(SHOTS, 'instances.png')).size > 10000 &&
    fs.statSync(path.join(SHOTS, 'images.png')).size > 10000);
}

// Volumes in the page, and an instance-level snapshot ("All volumes",
// seed 004) of server VM.
async function volumesPart(d, page, alice, vm) {
  const vol = 'web-data';
  const setName = 'web-set1';
  const volRow = () => row(page, vol);
  await check(STEPS[7], async () => {
    await nav(page, 'Volumes').click();
    await page.getByRole('button', {name: 'Create Volume'}).click();
    const dlg = page.getByRole('dialog');
    await dlg.getByLabel('Volume Name').fill(vol);
    await dlg.getByLabel('Size (GiB)').fill('1');
    await dlg.getByRole('button', {name: 'Create Volume'}).click();
    await volRow().getByText('Available', {exact: true}).waitFor({timeout: LONG});
    return true;
  });
  await check(STEPS[8], async () => {
    await volRow().getByRole('button', {name: 'Attach'}).click();
    const dlg = page.getByRole('dialog');
    await dlg.getByLabel('Instance').selectOption({label: vm});
    await dlg.getByRole('button', {name: 'Attach Volume'}).click();
    await volRow().getByText('In Use', {exact: true}).waitFor({timeout: LONG});
    const on = await volRow().getByRole('cell').nth(3).textContent();
    diag(`attached to: ${on}`);
    return on.startsWith(`${vm} on `);
  });
  await check(STEPS[9], async () => {
    await nav(page, 'Instances').click();
    await row(page, vm).getByRole('button', {name: 'Create Snapshot'}).click();
    const dlg = page.getByRole('dialog');
    await dlg.getByLabel('Snapshot Name').fill(setName);
    await dlg.getByLabel('All volumes').check();
    await dlg.getByRole('button', {name: 'Create Snapshot'}).click();
    await page.getByRole('heading', {name: 'Images'}).waitFor();
    await row(page, setName).getByText('Active', {exact: true}).waitFor({timeout: LONG});
    await row(page, setName).getByRole('link', {name: setName}).click();
    const bdm = page.getByRole('table', {name: 'Volume snapshots of this image'});
    await bdm.waitFor();
    const line = await bdm.getByRole('row').filter({hasText: vol}).textContent();
    diag(`block_device_mapping: ${line}`);
    await nav(page, 'Volume Snapshots').click();
    const vs = page.getByRole('row').filter({has: page.getByRole('link', {name: setName})});
    await vs.getByText('Available', {exact: true}).waitFor({timeout: LONG});
    const txt = await vs.textContent();
    return /\/dev\/vd[b-z]/.test(line) && txt.includes(vol);
  });
  await check(STEPS[10], async () => {
    await nav(page, 'Images').click();
    await row(page, setName).getByRole('button', {name: 'More'}).click();
    await row(page, setName).getByRole('menuitem', {name: 'Delete Image'}).click();
    let dlg = page.getByRole('dialog');
    await dlg.getByRole('button', {name: 'Delete Image'}).click();
    await row(page, setName).waitFor({state: 'detached', timeout: LONG});
    await nav(page, 'Volume Snapshots').click();
    await row(page, vol).getByRole('button', {name: 'More'}).click();
    await row(page, vol).getByRole('menuitem', {name: 'Delete Volume Snapshot'}).click();
    dlg = page.getByRole('dialog');
    await dlg.getByRole('button', {name: 'Delete Volume Snapshot'}).click();
    await page.getByText('No volume snapshots.').waitFor({timeout: LONG});
    await nav(page, 'Volumes').click();
    await volRow().getByRole('button', {name: 'Detach'}).click();
    dlg = page.getByRole('dialog');
    await dlg.getByRole('button', {name: 'Detach Volume'}).click();
    await volRow().getByText('Available', {exact: true}).waitFor({timeout: LONG});
    await volRow().getByRole('button', {name: 'More'}).click();
    await volRow().getByRole('menuitem', {name: 'Delete Volume'}).click();
    dlg = page.getByRole('dialog');
    await dlg.getByRole('button', {name: 'Delete Volume'}).click();
    await volRow().waitFor({state: 'detached', timeout: LONG});
    const left = await rest(d.base, alice.token, 'GET', `/volume/v3/${alice.project}/volumes`);
    return left.status === 200 && left.json.volumes.length === 0;
  });
}

try {
  await main();
} catch (e) {
  ok(false, 'the test ran to its end', e && e.stack ? e.stack : e);
}
console.log(`1..${count}`);
// The daemons keep the event loop alive: end here (cleanup runs on exit).
process.exit(failed ? 1 : 0);
