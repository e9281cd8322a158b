// Every page the filter serves, in real Chromium through real Envoy and the
// Pocket ID stand-in: what each says (and does not say), Tinyauth's UI options
// (title, background image, logo), and "Sign in with another account" really
// letting the user pick another account. Each page's screenshot is written to
// tests/e2e/.artifacts/pages/<page>.png.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { chromium } from 'playwright-core';

import { artifactDir } from './lib/procs.mjs';
import { startStack } from './lib/stack.mjs';

function chromiumPath() {
  const candidate = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
  if (!fs.existsSync(candidate)) {
    throw new Error(`Chromium not found at ${candidate}. Run \`bash tests/setup.sh chromium\` (Debian package chromium).`);
  }
  return candidate;
}

const SHOTS = artifactDir('pages');

describe('the filter pages in Chromium', () => {
  let s;
  let browser;
  let pictureUrl;

  before(async () => {
    s = await startStack({ name: 'pages' }, {
      customize: (c, { issuer, op }) => {
        const alice = op.users.find((u) => u.username === 'alice');
        // The stand-in serves Pocket ID's profile pictures (a PNG): a real
        // image from another origin, as a logo or background would be.
        pictureUrl = `${issuer}/api/users/${alice.sub}/profile-picture.png`;
        c.ui = { title: 'Example Corp', logo: pictureUrl, backgroundImage: pictureUrl };
        // carol (carol@other.test) is refused at login by the whitelist.
        c.oauth.whitelist = '/@example\\.test$/';
        c.apps.lab = { ip: { block: ['127.0.0.0/8'] } };
        return c;
      },
    });
    browser = await chromium.launch({
      executablePath: chromiumPath(),
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        // The stack's *.example.test hosts all live on 127.0.0.1.
        '--host-resolver-rules=MAP *.example.test 127.0.0.1',
      ],
    });
  });

  after(async () => {
    await browser?.close();
    await s?.stop();
  });

  async function newPage(user) {
    const context = await browser.newContext();
    if (user) {
      await context.addCookies([{ name: 'standin_user', value: user, url: s.op.issuer }]);
    }
    return { context, page: await context.newPage() };
  }

  async function shot(page, name) {
    const file = path.join(SHOTS, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    assert.ok(fs.statSync(file).size > 1000, `screenshot ${file} written`);
  }

  const text = (page) => page.textContent('body');

  test('login page: the title once, the logo and the background image load', async () => {
    const { context, page } = await newPage();
    const response = await page.goto(s.url('whoami', '/'));
    assert.equal(response.status(), 200);
    assert.equal(await page.title(), 'Example Corp');
    assert.equal(await page.textContent('h1'), 'Welcome to Example Corp');
    const logoWidth = await page.$eval('img.logo', (img) => img.complete && img.naturalWidth);
    assert.ok(logoWidth > 0, 'the logo loaded');
    const background = await page.evaluate(() => getComputedStyle(document.body).backgroundImage);
    assert.ok(background.includes(pictureUrl), background);
    assert.match(response.headers()['content-security-policy'], /frame-ancestors 'none'/);
    await shot(page, 'login');
    await context.close();
  });

  test('signed-in page on the auth host names the account', async () => {
    const { context, page } = await newPage('alice');
    await page.goto(s.url('whoami', '/'));
    await page.getByText('Login with Pocket ID').click();
    await page.waitForURL(s.url('whoami', '/'));
    await page.goto(`${s.appUrl}/`);
    assert.equal(await page.title(), 'Signed in · Example Corp');
    assert.match(await text(page), /signed in as alice@example\.test with Pocket ID/);
    await shot(page, 'signed-in');
    await page.getByText('Log out').click();
    assert.match(await text(page), /You have been logged out/);
    assert.equal(await page.title(), 'Logged out · Example Corp');
    await shot(page, 'logged-out');
    await context.close();
  });

  test('refused by an app: names the signed-in account, and another account can be picked', async () => {
    const { context, page } = await newPage('bob');
    await page.goto(s.url('admin', '/reports?q=1'));
    await page.getByText('Login with Pocket ID').click();
    await page.waitForURL(s.url('admin', '/reports?q=1'));
    const refused = await page.reload();
    assert.equal(refused.status(), 403);
    const body = await text(page);
    assert.match(body, /You are signed in as bob@example\.test, but you cannot open admin/);
    assert.match(body, /not in a group that may use this app/);
    await shot(page, 'refused-app');

    // The stand-in would sign bob in again silently; prompt=login makes it
    // ask, and alice (an admin) is picked on its page.
    await context.clearCookies({ name: 'standin_user' });
    await page.getByText('Sign in with another account').click();
    await page.getByRole('button', { name: /^alice\b/ }).waitFor();
    const authorize = s.op.requests.findLast((q) => q.endpoint === 'authorize');
    assert.equal(authorize.query.prompt, 'login');
    await shot(page, 'switch-account-provider');
    await page.getByRole('button', { name: /^alice\b/ }).click();
    await page.waitForURL(s.url('admin', '/reports?q=1'));
    const echoed = JSON.parse(await text(page));
    assert.equal(echoed.headers['remote-user'], 'alice');
    await context.close();
  });

  test('refused by address before sign-in: no account is named or offered', async () => {
    const { context, page } = await newPage();
    const response = await page.goto(s.url('lab', '/'));
    assert.equal(response.status(), 403);
    const body = await text(page);
    assert.match(body, /lab cannot be opened from your network address/);
    assert.doesNotMatch(body, /signed in|another account/i);
    await shot(page, 'refused-network');
    await context.close();
  });

  test('refused by the whitelist at login: names the email, says it is not allowed', async () => {
    const { context, page } = await newPage('carol');
    await page.goto(s.url('whoami', '/'));
    await page.getByText('Login with Pocket ID').click();
    await page.getByText('Sign in with another account').waitFor();
    const body = await text(page);
    assert.match(body, /You signed in as carol@other\.test/);
    assert.match(body, /Your email address is not allowed to sign in here/);
    assert.doesNotMatch(body, /cannot open/);
    await shot(page, 'refused-whitelist');
    await context.close();
  });

  test("Tinyauth's /unauthorized does not believe its username parameter", async () => {
    const { context, page } = await newPage();
    await page.goto(`${s.appUrl}/unauthorized?groupErr=true&resource=admin&username=ceo%40example.test`);
    const body = await text(page);
    assert.doesNotMatch(body, /ceo@example\.test/);
    assert.match(body, /You are not signed in, so admin cannot be opened/);
    await shot(page, 'unauthorized-not-signed-in');
    await context.close();
  });

  test('error page: the time and the request ID to quote', async () => {
    const { context, page } = await newPage();
    const response = await page.goto(`${s.appUrl}/api/oauth/callback/generic?state=forged-state-value&code=x`);
    assert.equal(response.status(), 400);
    assert.equal(await page.title(), 'Sign-in failed · Example Corp');
    const body = await text(page);
    assert.match(body, /Time: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT/);
    assert.match(body, /Request ID: [0-9a-f-]{36}/);
    await shot(page, 'error');
    await context.close();
  });

  test('not found page', async () => {
    const { context, page } = await newPage();
    const response = await page.goto(`${s.appUrl}/nothing-here`);
    assert.equal(response.status(), 404);
    assert.equal(await page.title(), 'Not found · Example Corp');
    await shot(page, 'not-found');
    await context.close();
  });
});
