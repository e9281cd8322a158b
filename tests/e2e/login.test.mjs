// The login loop in real Envoy (1.40, V8) with the built .wasm, against the
// Pocket ID stand-in: from the first request to a signed session, and the ways
// it must fail.

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';

import { buildEnvoyConfig, runEnvoyExpectFailure } from './lib/envoy.mjs';
import { assertNoSecrets, collectSecrets } from './lib/secrets.mjs';
import { CLIENT_SECRET, SECRET, echoed, loginVia, sessionCookie, startStack } from './lib/stack.mjs';

describe('login loop', () => {
  /** @type {Awaited<ReturnType<typeof startStack>>} */
  let s;
  before(async () => {
    s = await startStack({ name: 'login-loop' });
  });
  after(async () => {
    await s?.stop();
  });

  test('unauthenticated browser is sent to the login page with the original URL', async () => {
    const b = s.browser('alice', { followRedirects: false });
    const r = await b.get(s.url('admin', '/dash?tab=1'));
    assert.equal(r.status, 302);
    const location = new URL(r.headers.location);
    assert.equal(location.origin, s.appUrl);
    assert.equal(location.pathname, '/login');
    assert.equal(location.searchParams.get('redirect_uri'), s.url('admin', '/dash?tab=1'));
    const page = await b.get(r.headers.location);
    assert.equal(page.status, 200);
    assert.match(page.body, /Login with Pocket ID/);
  });

  test('non-browser clients get 401 JSON with the login URL in x-tinyauth-location', async () => {
    const r = await s.api().get(s.url('admin', '/api/items'));
    assert.equal(r.status, 401);
    assert.deepEqual(r.json(), { status: 401, message: 'Unauthorized' });
    assert.ok(r.headers['x-tinyauth-location'].startsWith(`${s.appUrl}/login?redirect_uri=`));
    assert.equal(s.upstream.requests.filter((q) => q.path === '/api/items').length, 0);
  });

  test('login through Pocket ID, then the app gets the Remote-* headers', async () => {
    const b = s.browser('alice');
    s.op.clearRequests();
    const r = await loginVia(b, s.url('admin', '/dash?tab=1'));
    assert.equal(r.status, 200, r.body);
    assert.equal(r.url, s.url('admin', '/dash?tab=1'));
    const h = echoed(r);
    assert.equal(h['remote-user'], 'alice');
    assert.equal(h['remote-email'], 'alice@example.test');
    assert.equal(h['remote-name'], 'Alice Anderson');
    assert.equal(h['remote-groups'], 'admins,users');
    assert.equal(h['remote-sub'], 'a11ce000-0000-4000-8000-000000000001');
    assert.equal(h.cookie, undefined, 'the session cookie is not sent to the app');

    // What Pocket ID saw: PKCE S256, long state and nonce, basic auth, lowercase bearer accepted.
    const authorize = s.op.requests.find((q) => q.endpoint === 'authorize');
    assert.equal(authorize.query.code_challenge_method, 'S256');
    assert.ok(authorize.query.state.length >= 8 && authorize.query.nonce.length >= 8);
    assert.equal(authorize.query.redirect_uri, `${s.appUrl}/api/oauth/callback/generic`);
    const token = s.op.requests.find((q) => q.endpoint === 'token');
    assert.match(token.headers.authorization, /^Basic /);
    assert.ok(token.form.code_verifier.length >= 43);
    assert.equal(token.form.client_secret, undefined);
    const userinfo = s.op.requests.find((q) => q.endpoint === 'userinfo');
    assert.match(userinfo.headers.authorization, /^Bearer /);

    const cookie = sessionCookie(b);
    assert.ok(cookie, 'session cookie stored');
    assert.equal(cookie.domain, 'example.test');
    assert.equal(cookie.hostOnly, false);
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Lax');
    assert.ok(!b.jar.list().some((c) => c.name.startsWith('tinyauth-flow-')), 'flow cookie cleared');

    // The same session opens another app, with no call to the provider.
    const before = s.op.requests.length;
    const other = await b.get(s.url('whoami', '/'));
    assert.equal(other.status, 200);
    assert.equal(echoed(other)['remote-user'], 'alice');
    assert.equal(s.op.requests.length, before, 'authenticated requests make no provider call');
  });

  test('client-sent identity headers never reach the app', async () => {
    const b = s.browser('alice');
    await loginVia(b, s.url('whoami', '/'));
    const r = await b.get(s.url('whoami', '/spoof'), {
      headers: {
        'Remote-User': ['root', 'admin'],
        'Remote-Groups': 'admins',
        'Remote-Email': 'root@evil.test',
        'Remote-Role': 'x',
        'Remote-Name': ['Root', 'Admin'],
      },
    });
    const h = echoed(r);
    assert.equal(h['remote-user'], 'alice');
    assert.equal(h['remote-groups'], 'admins,users');
    assert.equal(h['remote-email'], 'alice@example.test');
    assert.equal(h['remote-role'], undefined);
    assert.equal(h['remote-name'], 'Alice Anderson', 'every copy of a spoofed header is replaced');
  });

  test('a user not in the group gets the 403 unauthorized page', async () => {
    const b = s.browser('bob');
    const r = await loginVia(b, s.url('admin', '/'));
    assert.equal(r.status, 403);
    assert.match(r.body, /Unauthorized/);
    assert.match(r.body, /admin/);
    assert.match(r.body, /bob@example\.test/);
    assert.match(r.body, /not in a group/);
    assert.ok(sessionCookie(b), 'bob is signed in, just not allowed here');
    const ok = await b.get(s.url('whoami', '/'));
    assert.equal(ok.status, 200);
    const api = await s.api().get(s.url('admin', '/'), { headers: { cookie: `${sessionCookie(b).name}=${sessionCookie(b).value}` } });
    assert.equal(api.status, 403);
    assert.deepEqual(api.json(), { status: 403, message: 'Forbidden' });
    assert.match(api.headers['x-tinyauth-location'], /\/unauthorized\?groupErr=true&ip=&resource=admin/);
  });

  test('carol with an empty groups list is refused by a group rule', async () => {
    const b = s.browser('carol');
    const r = await loginVia(b, s.url('admin', '/'));
    assert.equal(r.status, 403);
    assert.match(r.body, /not in a group/);
    // She is signed in: the refusal is the group rule's, not a failed login.
    const ok = await b.get(s.url('whoami', '/'));
    assert.equal(ok.status, 200);
    assert.equal(echoed(ok)['remote-user'], 'carol');
    assert.equal(echoed(ok)['remote-groups'], undefined, 'no groups, no header');
  });

  test('dave without an email logs in where no whitelist applies', async () => {
    const b = s.browser('dave');
    const r = await loginVia(b, s.url('whoami', '/'));
    assert.equal(r.status, 200);
    const h = echoed(r);
    assert.equal(h['remote-user'], 'dave');
    assert.equal(h['remote-email'], undefined);
    assert.equal(h['remote-groups'], 'users');
  });

  test('tampered and foreign cookies send the browser to log in again', async () => {
    const b = s.browser('alice');
    await loginVia(b, s.url('whoami', '/'));
    const cookie = sessionCookie(b);
    // The untouched cookie, set by hand the same way, works.
    const control = s.browser(null, { followRedirects: false });
    control.jar.set(cookie.name, cookie.value, { domain: '.example.test' });
    const works = await control.get(s.url('whoami', '/'));
    assert.equal(works.status, 200);
    assert.equal(echoed(works)['remote-user'], 'alice');
    const flip = (v, i) => v.slice(0, i) + (v[i] === 'A' ? 'B' : 'A') + v.slice(i + 1);
    const variants = {
      'flipped payload byte': flip(cookie.value, 5),
      'flipped signature byte': flip(cookie.value, cookie.value.length - 3),
      'signature stripped': cookie.value.slice(0, -22),
      'signature truncated': cookie.value.slice(0, -4),
      'another signature appended': cookie.value + 'AAAAAAAAAAAAAAAAAAAAAA',
      'garbage': 'not-a-session',
      'empty': '',
      'huge': 'A'.repeat(9000),
    };
    for (const [name, value] of Object.entries(variants)) {
      const probe = s.browser(null, { followRedirects: false });
      probe.jar.set(cookie.name, value, { domain: '.example.test' });
      const r = await probe.get(s.url('whoami', '/'));
      assert.equal(r.status, 302, name);
      assert.match(r.headers.location, /\/login\?redirect_uri=/, name);
    }
  });

  test('wrong state or a missing flow cookie is an error and gives no session', async () => {
    const b = s.browser('alice', { followRedirects: false });
    const start = await b.get(`${s.appUrl}/api/oauth/start/generic`);
    const authorize = new URL(start.headers.location);
    const state = authorize.searchParams.get('state');

    const wrong = await b.get(`${s.appUrl}/api/oauth/callback/generic?code=x&state=${state.slice(0, 16)}${'x'.repeat(27)}`);
    assert.equal(wrong.status, 400);
    assert.match(wrong.body, /expired or was started in another browser/);

    const stranger = s.browser('alice', { followRedirects: false });
    const csrf = await stranger.get(`${s.appUrl}/api/oauth/callback/generic?code=x&state=${state}`);
    assert.equal(csrf.status, 400);
    assert.equal(sessionCookie(b), undefined);
    assert.equal(sessionCookie(stranger), undefined);
    assert.match(csrf.body, /Try again/);
  });

  test('a return URL on a foreign domain is not followed', async () => {
    for (const target of ['http://evil.test/', `http://example.test.evil.test:${s.port}/`, '//evil.test/x', `http://whoami.example.test:${s.port}@evil.test/`]) {
      const b = s.browser('alice');
      const r = await b.get(`${s.appUrl}/api/oauth/start/generic?redirect_uri=${encodeURIComponent(target)}`);
      assert.equal(r.url, `${s.appUrl}/`, target);
      assert.ok(r.chain.every((hop) => !new URL(hop.url).hostname.endsWith('evil.test')), target);
      assert.match(r.body, /signed in as/);
    }
  });

  test('two concurrent logins in one browser both complete', async () => {
    const b = s.browser('alice', { followRedirects: false });
    const one = await b.get(`${s.appUrl}/api/oauth/start/generic?redirect_uri=${encodeURIComponent(s.url('whoami', '/one'))}`);
    const two = await b.get(`${s.appUrl}/api/oauth/start/generic?redirect_uri=${encodeURIComponent(s.url('whoami', '/two'))}`);
    assert.equal(b.jar.list().filter((c) => c.name.startsWith('tinyauth-flow-')).length, 2);
    // Finish the second first, as a user switching tabs would.
    for (const [start, path] of [[two, '/two'], [one, '/one']]) {
      const done = await b.get(start.headers.location, { followRedirects: true });
      assert.equal(done.status, 200, done.body);
      assert.equal(done.url, s.url('whoami', path));
      assert.equal(echoed(done)['remote-user'], 'alice');
    }
  });

  test('logout clears the session cookie and, as in Tinyauth, leaves the Pocket ID session', async () => {
    const b = s.browser('alice');
    await loginVia(b, s.url('whoami', '/'));
    assert.ok(sessionCookie(b));
    assert.equal(echoed(await b.get(s.url('whoami', '/')))['remote-user'], 'alice', 'signed in before');
    const endSessions = s.op.endSessionCalls.length;
    const r = await b.get(`${s.appUrl}/logout`);
    assert.equal(r.status, 200);
    assert.match(r.body, /logged out/);
    assert.equal(sessionCookie(b), undefined);
    assert.equal(s.op.endSessionCalls.length, endSessions, 'the provider was not asked to end its session');
    const again = await b.get(s.url('whoami', '/'), { followRedirects: false });
    assert.equal(again.status, 302);
    // The provider still knows the browser: signing in again needs no choice.
    b.jar.delete('standin_user');
    const back = await loginVia(b, s.url('whoami', '/'));
    assert.equal(back.status, 200, back.body);
    assert.equal(echoed(back)['remote-user'], 'alice');
  });

  test("Tinyauth's POST /api/user/logout clears the session cookie", async () => {
    const b = s.browser('alice');
    await loginVia(b, s.url('whoami', '/'));
    assert.equal(echoed(await b.get(s.url('whoami', '/')))['remote-user'], 'alice', 'signed in before');
    const r = await b.post(`${s.appUrl}/api/user/logout`, { from: `${s.appUrl}/`, headers: { 'sec-fetch-mode': 'cors' } });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), { status: 200, message: 'Logout successful' });
    const cleared = [].concat(r.headers['set-cookie'] ?? []).find((c) => c.startsWith('tinyauth-session-'));
    assert.match(cleared, /^tinyauth-session-[^=]+=;.*Max-Age=0/, 'the session cookie is cleared');
    assert.match(cleared, /Domain=example\.test/);
    assert.equal(sessionCookie(b), undefined);
    assert.equal((await b.get(s.url('whoami', '/'), { followRedirects: false })).status, 302);
  });

  test('the provider refusing the user shows an error page and no session', async () => {
    const b = s.browser('alice');
    b.jar.set('standin_deny', '1', { url: s.op.issuer });
    const r = await loginVia(b, s.url('whoami', '/'));
    assert.equal(r.status, 403);
    assert.match(r.body, /access_denied/);
    assert.equal(sessionCookie(b), undefined);
  });

  test('a non-UTF-8 header byte does not crash the VM', async () => {
    const reply = await rawRequest(s.port, Buffer.concat([
      Buffer.from(`GET / HTTP/1.1\r\nHost: whoami.example.test:${s.port}\r\nX-Odd: `),
      Buffer.from([0xff, 0xfe, 0x80]),
      Buffer.from('\r\nCookie: tinyauth-session-x='),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('\r\nConnection: close\r\n\r\n'),
    ]));
    assert.match(reply, /^HTTP\/1\.1 401 /);
    const ok = await s.api().get(`${s.appUrl}/api/healthz`);
    assert.deepEqual(ok.json(), { status: 200, message: 'Healthy', providers: { generic: 'ready' } });
    assert.doesNotMatch(s.envoy.logs(), /panic/);
  });

  test('health endpoint on the auth host', async () => {
    const r = await s.api().get(`${s.appUrl}/api/healthz`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), { status: 200, message: 'Healthy', providers: { generic: 'ready' } });
  });
});

describe('provider failures at the token and userinfo steps', () => {
  let s;
  before(async () => {
    // No access log: it records the callback's path, code included (see secrets.test.mjs).
    s = await startStack({ name: 'provider-failures' }, { provider: { slowMs: 5000 }, accessLog: false });
  });
  after(async () => {
    await s?.stop();
  });

  const cases = [
    ['token endpoint down (connection dropped)', 'token', 'drop', /token endpoint: HTTP 503 \(Envoy could not reach the provider\)/],
    ['token endpoint slow (timeout)', 'token', 'slow', /token endpoint: HTTP 504 \(Envoy timed out waiting for the provider\)/],
    ['token endpoint 500', 'token', '500', /token endpoint: HTTP 500/],
    ['token endpoint rejects the code', 'token', '400', /token endpoint: HTTP 400 \(invalid_grant\)/],
    ['token endpoint answers HTML', 'token', 'junk', /token endpoint: unusable answer/],
    ['token endpoint answers the wrong JSON', 'token', 'json-garbage', /token endpoint: unusable answer/],
    ['userinfo down', 'userinfo', 'drop', /userinfo endpoint: HTTP 503 \(Envoy could not reach the provider\)/],
    ['userinfo 500', 'userinfo', '500', /userinfo endpoint: HTTP 500/],
    ['userinfo junk', 'userinfo', 'junk', /userinfo endpoint: unusable answer/],
    ['userinfo without sub', 'userinfo', 'json-garbage', /userinfo endpoint: unusable answer/],
  ];
  for (const [name, endpoint, mode, logLine] of cases) {
    test(name, async () => {
      s.op.clearFaults();
      s.op.setFault(endpoint, mode);
      const mark = s.envoy.mark();
      const b = s.browser('alice');
      const r = await loginVia(b, s.url('whoami', '/'));
      s.op.clearFaults();
      assert.equal(r.status, 502, r.body);
      assert.match(r.body, /did not answer correctly/);
      assert.match(r.body, /Try again/);
      assert.equal(sessionCookie(b), undefined);
      await s.envoy.waitForLog(logLine, 5000, { since: mark });
      // Every line so far, against every secret this login (and the ones
      // before it) handled: codes, verifiers, tokens, cookies, credentials.
      const secrets = collectSecrets({ op: s.op, browsers: [b], fixed: { 'the client secret': CLIENT_SECRET, "the filter's secret": SECRET } });
      assert.ok(secrets.some((x) => x.what === 'token request: code'), 'the code was sent');
      assertNoSecrets(s.envoy.logs(), secrets);
      // A retry once the provider is back works.
      const retry = await loginVia(b, s.url('whoami', '/'));
      assert.equal(retry.status, 200);
    });
  }

  test('an undefined cluster is reported and logins answer 503 with Retry-After', async () => {
    const t = await startStack({ name: 'no-cluster' }, {
      waitReady: false,
      customize: (c) => {
        c.oauth.providers.generic.cluster = 'missing_cluster';
        return c;
      },
    });
    try {
      await t.envoy.waitForLog(/\[critical\].*provider generic: discovery failed: Envoy has no cluster `missing_cluster`.*logins through it are refused/, 5000);
      const r = await loginVia(t.browser('alice'), t.url('whoami', '/'));
      assert.equal(r.status, 503);
      assert.match(r.body, /temporarily unavailable/);
      assert.ok(Number(r.headers['retry-after']) >= 1);
      assert.equal(t.upstream.requests.length, 0, 'nothing is forwarded');
    } finally {
      await t.stop();
    }
  });
});

describe('configurations', () => {
  test('email not whitelisted is refused at the callback, with no session', async (t) => {
    const s = await startStack(t, {
      customize: (c) => {
        c.oauth.whitelist = 'alice@example.test';
        return c;
      },
    });
    const bob = s.browser('bob');
    const r = await loginVia(bob, s.url('whoami', '/'));
    assert.equal(r.status, 403);
    assert.match(r.body, /not allowed to sign in/);
    assert.equal(sessionCookie(bob), undefined);
    const alice = s.browser('alice');
    assert.equal((await loginVia(alice, s.url('whoami', '/'))).status, 200);
    const dave = s.browser('dave');
    const d = await loginVia(dave, s.url('whoami', '/'));
    assert.equal(d.status, 403, 'no email and a whitelist applies');
    await s.stop();
  });

  test('autoRedirect sends browsers straight to Pocket ID', async (t) => {
    const s = await startStack(t, {
      customize: (c) => {
        c.oauth.autoRedirect = 'generic';
        return c;
      },
    });
    const b = s.browser('alice', { followRedirects: false });
    const first = await b.get(s.url('whoami', '/x'));
    assert.equal(first.status, 302);
    assert.ok(first.headers.location.startsWith(`${s.op.issuer}/authorize?`), first.headers.location);
    const done = await b.get(first.headers.location, { followRedirects: true });
    assert.equal(done.url, s.url('whoami', '/x'));
    assert.equal(echoed(done)['remote-user'], 'alice');
    await s.stop();
  });

  test('expired and other-secret cookies send the browser to log in again', async (t) => {
    const shortLived = await startStack({ name: 'short-lived' }, {
      customize: (c) => {
        c.secret = 'another-secret-another-secret-another-secret';
        c.auth = { sessionExpiry: 2 };
        return c;
      },
    });
    const main = await startStack({ name: 'main-secret' });
    const b = shortLived.browser('alice');
    await loginVia(b, shortLived.url('whoami', '/'));
    const cookie = sessionCookie(b);
    assert.ok(cookie);
    // Valid where it was issued, before it expires.
    const fresh = shortLived.browser(null, { followRedirects: false });
    fresh.jar.set(cookie.name, cookie.value, { domain: '.example.test' });
    const valid = await fresh.get(shortLived.url('whoami', '/'));
    assert.equal(valid.status, 200);
    assert.equal(echoed(valid)['remote-user'], 'alice');
    // Signed with another secret: the main deployment refuses it.
    const foreign = main.browser(null, { followRedirects: false });
    // Both deployments use auth.example.test, so the cookie name is the same.
    foreign.jar.set(cookie.name, cookie.value, { domain: '.example.test' });
    assert.equal((await foreign.get(main.url('whoami', '/'))).status, 302);
    // Expired: wait past the 2-second expiry, replaying the cookie by hand.
    await new Promise((r) => setTimeout(r, 2500));
    const replay = shortLived.browser(null, { followRedirects: false });
    replay.jar.set(cookie.name, cookie.value, { domain: '.example.test' });
    const r = await replay.get(shortLived.url('whoami', '/'));
    assert.equal(r.status, 302);
    await shortLived.stop();
    await main.stop();
  });

  test('invalid configurations stop Envoy from loading the filter, naming the field', async (t) => {
    const good = { port: 1, issuer: 'http://id.example.test:1411' };
    const { baseFilterConfig } = await import('./lib/stack.mjs');
    const cases = [
      ['short secret', (c) => { c.secret = 'short'; }, /invalid configuration: secret: is too short/],
      ['unknown key', (c) => { c.colour = 'blue'; }, /invalid configuration: colour: unknown field `colour`/],
      ['missing clientId', (c) => { delete c.oauth.providers.generic.clientId; }, /invalid configuration: oauth\.providers\.generic\.clientId: is required/],
      ['malformed token URL', (c) => { c.oauth.providers.generic.tokenUrl = 'pocket-id/token'; }, /invalid configuration: oauth\.providers\.generic\.tokenUrl: /],
      ['bad regex', (c) => { c.oauth.whitelist = '/(unclosed/'; }, /invalid configuration: oauth\.whitelist: invalid regex/],
      ['not JSON', () => '{"appUrl": ', /invalid configuration: configuration: is not valid JSON/],
    ];
    for (const [name, edit, expected] of cases) {
      let config = baseFilterConfig(good);
      const replaced = edit(config);
      if (typeof replaced === 'string') config = replaced;
      const bootstrap = buildEnvoyConfig({
        listenPort: 0,
        filterConfig: config,
        clusters: [{ name: 'app', host: '127.0.0.1', port: 9 }],
      });
      const result = await runEnvoyExpectFailure({ config: bootstrap, testName: `bad-config-${name}`, untilLog: /Unable to create Wasm plugin/ });
      assert.match(result.logs, expected, name);
      assert.equal(result.logs.match(/invalid configuration:/g)?.length >= 1, true, name);
    }
  });
});

/** Sends raw bytes over TCP and returns the reply as latin1 text. */
function rawRequest(port, bytes) {
  return new Promise((resolve, reject) => {
    // Write without half-closing: Envoy treats a half-close as the client going away.
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    const chunks = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.on('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
  });
}
