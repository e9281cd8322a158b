// Sessions that end when they should, in real Envoy with two workers and the
// Pocket ID stand-in, whose admin hooks change a user's groups and disable a
// user: the filter re-checks a session with the provider once
// auth.refreshInterval has passed (here 2 s), through the refresh token it
// keeps encrypted in the cookie.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { apiClient } from './lib/client.mjs';
import { echoed, loginVia, sessionCookie, startStack } from './lib/stack.mjs';

const INTERVAL = 2;
const GRACE = 3;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
/** Long enough for the identity to fall due (whole seconds, plus margin). */
const pastInterval = () => sleep(INTERVAL * 1000 + 1100);

/** Thread IDs of the Envoy log lines matching `re` (the [thread] field). */
function threadsOf(logs, re) {
  const threads = new Set();
  for (const line of logs.split('\n')) {
    if (!re.test(line)) continue;
    const m = /^\[[^\]]+\]\[(\d+)\]/.exec(line);
    if (m) threads.add(m[1]);
  }
  return threads;
}

describe('sessions follow the provider', () => {
  let s;
  before(async () => {
    s = await startStack({ name: 'sessions' }, {
      customize: (c) => {
        c.auth = { refreshInterval: INTERVAL, refreshGrace: GRACE };
        return c;
      },
    });
  });
  after(async () => {
    await s?.stop();
  });

  const refreshGrants = () => s.op.requests.filter((q) => q.endpoint === 'token' && q.form?.grant_type === 'refresh_token');

  test("the cookie carries Pocket ID's refresh token encrypted, and stays well under browsers' limit", async () => {
    const b = s.browser('alice');
    const known = new Set(s.op.liveRefreshTokens());
    const r = await loginVia(b, s.url('whoami', '/'));
    assert.equal(r.status, 200, r.body);
    const issued = s.op.liveRefreshTokens().filter((t) => !known.has(t));
    assert.equal(issued.length, 1, 'the login got one refresh token');
    assert.equal(issued[0].length, 94);
    const cookie = sessionCookie(b);
    assert.ok(cookie, 'signed in');
    assert.ok(!cookie.value.includes(issued[0]));
    assert.ok(!Buffer.from(cookie.value, 'base64url').toString('latin1').includes(issued[0]));
    const size = `${cookie.name}=${cookie.value}`.length;
    assert.ok(size < 1024, `session cookie is ${size} bytes`);
    assert.equal(echoed(r)['remote-user'], 'alice');
  });

  test('removed from a group: refused by that app within the interval; other apps see the new groups', async () => {
    const b = s.browser('alice');
    assert.equal((await loginVia(b, s.url('admin', '/'))).status, 200);
    s.op.setUserGroups('alice', ['users']);
    try {
      await pastInterval();
      const refused = await b.get(s.url('admin', '/'));
      assert.equal(refused.status, 403, refused.body);
      const who = await b.get(s.url('whoami', '/'));
      assert.equal(who.status, 200);
      assert.equal(echoed(who)['remote-groups'], 'users');
    } finally {
      s.op.setUserGroups('alice', ['admins', 'users']);
    }
  });

  test('disabled: signed out within the interval, browsers sent to log in, API clients 401, on every copy', async () => {
    const b = s.browser('bob');
    assert.equal((await loginVia(b, s.url('whoami', '/'))).status, 200);
    const cookie = sessionCookie(b);
    const mark = s.envoy.mark();
    s.op.setUserDisabled('bob');
    try {
      await pastInterval();
      const r = await b.get(s.url('whoami', '/'), { followRedirects: false });
      assert.equal(r.status, 302);
      assert.match(r.headers.location, /\/login\?/);
      assert.equal(sessionCookie(b), undefined, 'the session cookie was cleared');
      for (let i = 0; i < 6; i++) {
        const api = await apiClient().get(s.url('whoami', '/'), { headers: { Cookie: `${cookie.name}=${cookie.value}` } });
        assert.equal(api.status, 401);
      }
      await s.envoy.waitForLog(/event=session_ended decision=deny reason="the provider refused the refresh \(invalid_grant[^"]*" user="bob"/, 3000, { since: mark });
    } finally {
      s.op.setUserDisabled('bob', false);
    }
  });

  test('one refresh per session, however many requests arrive at once on both workers', async () => {
    const b = s.browser('alice');
    assert.equal((await loginVia(b, s.url('whoami', '/'))).status, 200);
    const cookie = sessionCookie(b);
    await pastInterval();
    const before = refreshGrants().length;
    const results = await Promise.all(Array.from({ length: 12 }, () =>
      apiClient().get(s.url('whoami', '/'), { headers: { Cookie: `${cookie.name}=${cookie.value}` } })));
    for (const r of results) assert.equal(r.status, 200, r.body);
    assert.equal(refreshGrants().length - before, 1, 'exactly one refresh-token grant');
    // Later requests with the old cookie get the refreshed session, no new grant.
    const late = await apiClient().get(s.url('whoami', '/'), { headers: { Cookie: `${cookie.name}=${cookie.value}` } });
    assert.equal(late.status, 200);
    assert.ok((late.headers['set-cookie'] ?? []).some((c) => c.startsWith(cookie.name)), 'the newer cookie is handed out');
    assert.equal(refreshGrants().length - before, 1);
  });

  test('provider down at a refresh: the identity stands for the grace period, then 503 until the provider is back', async () => {
    const b = s.browser('erin');
    assert.equal((await loginVia(b, s.url('whoami', '/'))).status, 200);
    await s.op.close();
    try {
      await pastInterval();
      const within = await b.get(s.url('whoami', '/'));
      assert.equal(within.status, 200, 'kept within auth.refreshGrace');
      assert.equal(echoed(within)['remote-user'], 'erin');
      await sleep(GRACE * 1000);
      const past = await b.get(s.url('whoami', '/'));
      assert.equal(past.status, 503, past.body);
      assert.match(past.body, /could not be confirmed/);
      const api = await apiClient().get(s.url('whoami', '/'), { headers: { Cookie: b.jar.list().map((c) => `${c.name}=${c.value}`).join('; ') } });
      assert.equal(api.status, 503);
      assert.match(api.body, /"status":503/);
    } finally {
      await s.op.start();
    }
    // The next try (after min(10 s, refreshInterval)) reaches it again.
    await sleep(INTERVAL * 1000 + 100);
    const back = await b.get(s.url('whoami', '/'));
    assert.equal(back.status, 200, back.body);
  });

  test('a cookie copied before /logout is refused afterwards on both workers', async () => {
    const b = s.browser('alice');
    assert.equal((await loginVia(b, s.url('whoami', '/'))).status, 200);
    const copy = sessionCookie(b);
    const header = { Cookie: `${copy.name}=${copy.value}` };
    assert.equal((await apiClient().get(s.url('whoami', '/'), { headers: header })).status, 200);
    const mark = s.envoy.mark();
    assert.equal((await b.get(`${s.appUrl}/logout`)).status, 200);
    // New connections spread over the workers (SO_REUSEPORT).
    for (let i = 0; i < 24; i++) {
      const r = await apiClient().get(s.url('whoami', '/'), { headers: header });
      assert.equal(r.status, 401, `request ${i}`);
    }
    await s.envoy.waitForLog(/event=refused decision=deny reason="the session was logged out/, 3000, { since: mark });
    const logs = s.envoy.proc.linesSince(mark).join('\n');
    const threads = threadsOf(logs, /event=refused decision=deny reason="the session was logged out/);
    assert.ok(threads.size >= 2, `refusals came from ${threads.size} worker(s): ${[...threads]}`);
    assert.equal(s.upstream.requests.filter((q) => q.headers.cookie?.includes(copy.value)).length, 0);
  });
});
