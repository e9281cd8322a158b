// Issue #20 item 7 in real Envoy: Pocket ID comes up after Envoy (the usual
// order in a compose file) and stays down long enough for the filter's
// discovery back-off to grow to 16 s. Once it is reachable, a user's login
// works within 2 s: a login that finds discovery missing makes the next fetch
// due at once (one fetch in flight per VM, at most one such retry per second)
// instead of waiting out the back-off.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { startPocketId } from './pocket-id/standin.mjs';
import { freePort } from './lib/ports.mjs';
import { defaultClients, echoed, loginVia, startStack } from './lib/stack.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Waits until `re` has matched log lines of `threads` different Envoy threads (VMs). */
async function waitOnThreads(envoy, re, threads, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = new Set();
    for (const line of envoy.logs().split('\n')) {
      const m = /\]\[(\d+)\]\[\w+\]\[wasm\]/.exec(line);
      if (m && re.test(line)) seen.add(m[1]);
    }
    if (seen.size >= threads) return;
    if (Date.now() > deadline) throw new Error(`${re} seen on ${seen.size} of ${threads} threads after ${timeoutMs} ms:\n${envoy.tail(40)}`);
    await sleep(100);
  }
}

test('a provider that comes up after Envoy is usable within 2 s, whatever the back-off', async (t) => {
  const port = await freePort();
  const op = await startPocketId({ port: 0, issuerHost: 'id.example.test', clients: defaultClients(`http://auth.example.test:${port}`) });
  await op.close();
  const s = await startStack({ name: 'late-provider-fast' }, { port, op, waitReady: false });
  t.after(() => s.stop());

  // Five failed fetches on every VM (main thread and both workers): the next
  // scheduled attempt is 16 s away. Nobody tries to log in meanwhile.
  await waitOnThreads(s.envoy, /provider generic: discovery failed: .*\(retry in 16s\)/, 3, 45000);
  await op.start();
  const upAt = Date.now();

  // A user trying to sign in, the way people retry a "try again" page.
  const attempts = [];
  let ok;
  while (Date.now() - upAt < 15000) {
    const r = await loginVia(s.browser('alice'), s.url('whoami', '/'));
    attempts.push(`${Date.now() - upAt} ms: ${r.status}${r.headers['retry-after'] ? ` (Retry-After: ${r.headers['retry-after']})` : ''}`);
    if (r.status === 200) {
      ok = r;
      break;
    }
    assert.equal(r.status, 503, `while discovery runs, logins get 503, nothing else:\n${r.body}`);
    assert.equal(r.headers['retry-after'], '1', 'a retry is under way, so Retry-After is 1 s');
    await sleep(100);
  }
  const elapsed = Date.now() - upAt;
  t.diagnostic(`login attempts after the provider came up: ${attempts.join('; ')}`);
  assert.ok(ok, `no successful login within 15 s: ${attempts.join('; ')}`);
  assert.equal(echoed(ok)['remote-user'], 'alice');
  assert.ok(elapsed <= 2000, `the first successful login came ${elapsed} ms after the provider was up (${attempts.join('; ')})`);
  // The scheduled attempt (16 s after the fifth failure) has not come yet:
  // the fetches that succeeded were the ones logins asked for.
  assert.doesNotMatch(s.envoy.logs(), /\(retry in 32s\)/, 'no further scheduled failure');
  assert.equal(s.upstream.requests.length, 1, 'only the successful login reached the app');
});
