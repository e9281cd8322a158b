// The shell's half of sliding session renewal (issue #20 item 10): the core
// decides to renew in flow::forward (tests/guards.rs), and the shell adds the
// new cookie to the app's response in on_http_response_headers. Without it
// every user is logged out after sessionExpiry however active they are.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { echoed, loginVia, sessionCookie, startStack } from './lib/stack.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('an active user stays signed in past sessionExpiry: the renewed cookie reaches the browser through Envoy', async (t) => {
  // 6 s sessions: renewed once 3 s or less are left.
  const s = await startStack(t, {
    name: 'renewal',
    customize: (c) => {
      c.auth = { sessionExpiry: 6 };
      return c;
    },
  });
  t.after(() => s.stop());
  const b = s.browser('alice');
  const login = await loginVia(b, s.url('whoami', '/'));
  const t0 = Date.now();
  assert.equal(echoed(login)['remote-user'], 'alice');
  const issued = sessionCookie(b);
  const sessionSetCookies = (r) => [].concat(r.headers['set-cookie'] ?? []).filter((c) => c.startsWith('tinyauth-session-'));

  const early = await b.get(s.url('whoami', '/early'));
  assert.equal(early.status, 200);
  assert.deepEqual(sessionSetCookies(early), [], 'no renewal while more than half is left');

  await sleep(t0 + 3600 - Date.now());
  const late = await b.get(s.url('whoami', '/late'));
  assert.equal(late.status, 200);
  assert.equal(late.headers['x-echo-upstream'], '1', "the app's own response");
  const renewed = sessionSetCookies(late);
  assert.equal(renewed.length, 1, `one renewed cookie on the app's response: ${JSON.stringify(late.headers)}`);
  assert.match(renewed[0], /; Max-Age=6(;|$)/);
  assert.match(renewed[0], /Domain=example\.test/);
  assert.match(renewed[0], /HttpOnly/);
  assert.notEqual(sessionCookie(b).value, issued.value, 'the browser stored the new cookie');

  // Past the first expiry: the renewed cookie still signs alice in.
  await sleep(t0 + 7000 - Date.now());
  const after = await b.get(s.url('whoami', '/after'), { followRedirects: false });
  assert.equal(after.status, 200, 'still signed in');
  assert.equal(echoed(after)['remote-user'], 'alice');
  const stale = s.browser(null, { followRedirects: false });
  stale.jar.set(issued.name, issued.value, { domain: '.example.test' });
  assert.equal((await stale.get(s.url('whoami', '/'))).status, 302, 'the cookie first issued has expired');
});
