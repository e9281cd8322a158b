// A real browser (Debian Chromium, headless, driven by playwright-core) through
// the demo exactly as a user runs it: `bash envoy-demo/run.sh`, then sign in
// by clicking, with *.localhost names the browser resolves itself.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { chromium } from 'playwright-core';

import { freePorts } from './lib/ports.mjs';
import { REPO_ROOT, startProcess } from './lib/procs.mjs';

function chromiumPath() {
  const candidate = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
  if (!fs.existsSync(candidate)) {
    throw new Error(`Chromium not found at ${candidate}. Run \`bash tests/setup.sh chromium\` (Debian package chromium).`);
  }
  return candidate;
}

/** Flags for headless Chromium on a machine with no outside network. */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

describe('the demo in headless Chromium', () => {
  let demo;
  let browser;
  let port;
  // Its own run directory: another suite may run the demo at the same time.
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tinyauth-browser-demo-'));

  before(async () => {
    const executablePath = chromiumPath();
    const [envoyPort, idPort, appPort, adminPort] = await freePorts(4);
    port = envoyPort;
    demo = await startProcess({
      name: 'demo',
      testName: 'browser-demo',
      command: 'bash',
      args: [path.join(REPO_ROOT, 'envoy-demo', 'run.sh')],
      env: {
        ...process.env,
        DEMO_PORT: String(envoyPort),
        DEMO_ID_PORT: String(idPort),
        DEMO_APP_PORT: String(appPort),
        DEMO_ADMIN_PORT: String(adminPort),
        DEMO_RUN_DIR: runDir,
      },
      ready: /\[demo\] ready/,
      readyTimeoutMs: 180000,
    });
    browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
  });

  after(async () => {
    await browser?.close();
    await demo?.stop({ graceMs: 5000 });
    fs.rmSync(runDir, { recursive: true, force: true });
  });

  const url = (host, p = '/') => `http://${host}.demo.localhost:${port}${p}`;

  async function signIn(page, user) {
    await page.goto(url('whoami', '/hello?x=1'));
    await page.getByText('Login with Pocket ID').click();
    await page.getByRole('button', { name: new RegExp(`^${user}\\b`) }).click();
    await page.waitForURL(url('whoami', '/hello?x=1'));
  }

  test('demo prints what to open and the test users', () => {
    const out = demo.logs();
    assert.match(out, new RegExp(`http://whoami\\.demo\\.localhost:${port}/`));
    assert.match(out, /alice\s+admins, users/);
    assert.match(out, /dave\s+users\s+\(no email\)/);
  });

  test('alice signs in by clicking, lands on the app, and the cookie is right', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, 'alice');
    await assert.doesNotReject(page.getByRole('heading', { name: 'Hello, Alice Anderson' }).waitFor());
    const body = await page.textContent('body');
    assert.match(body, /remote-user\s*alice/);
    assert.match(body, /remote-groups\s*admins,users/);

    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name.startsWith('tinyauth-session-'));
    assert.ok(session, `session cookie in ${JSON.stringify(cookies.map((c) => c.name))}`);
    assert.equal(session.domain, '.demo.localhost');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Lax');
    assert.ok(!cookies.some((c) => c.name.startsWith('tinyauth-flow-')), 'flow cookie cleared');

    // The same session opens the admin app (alice is in "admins").
    await page.goto(url('admin'));
    assert.match(await page.textContent('h1'), /Hello, Alice Anderson/);

    // Logout ends it everywhere under the cookie domain; as in Tinyauth, the
    // Pocket ID session stays (logoutAtProvider is off by default).
    await page.goto(url('auth', '/logout'));
    assert.match(await page.textContent('body'), /logged out/);
    assert.ok(!(await context.cookies()).some((c) => c.name.startsWith('tinyauth-session-')));
    await page.goto(url('whoami'));
    assert.match(await page.textContent('body'), /Login with Pocket ID/);
    // Signing in again goes straight through the provider's session.
    await page.getByText('Login with Pocket ID').click();
    await page.waitForURL(url('whoami'));
    await assert.doesNotReject(page.getByRole('heading', { name: 'Hello, Alice Anderson' }).waitFor());
    await context.close();
  });

  test('bob is refused by the admin app with the unauthorized page', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, 'bob');
    const response = await page.goto(url('admin'));
    assert.equal(response.status(), 403);
    const body = await page.textContent('body');
    assert.match(body, /Unauthorized/);
    assert.match(body, /bob@example\.test/);
    assert.match(body, /not in a group/);
    await context.close();
  });
});
