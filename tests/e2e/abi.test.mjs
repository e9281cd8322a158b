// The shipped module's per-request path through the proxy-wasm ABI, under
// envoy-demo/bench/abi-host.mjs (a minimal host in Node): which host calls a
// request makes. Speed is guarded by counting, not timing: an authenticated
// request reads the header map and the clock once and writes only the headers
// it must, with no outbound call, no log line and no property read; a refused
// one answers locally, also with no outbound call. End-to-end behaviour in
// real Envoy is covered by the other suites.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { before, test } from 'node:test';

import { authenticatedRequest, loadFilter, sealedSession } from '../../envoy-demo/bench/abi-host.mjs';
import { wasmPath } from './lib/envoy.mjs';
import { REPO_ROOT } from './lib/procs.mjs';

let filter;
let cookie;

before(() => {
  execFileSync('cargo', ['build', '--quiet', '--example', 'seal_session'], { cwd: REPO_ROOT, stdio: 'inherit' });
  cookie = sealedSession();
  filter = loadFilter(wasmPath());
});

test('an authenticated request makes ten host calls: one header-map read, one clock read, one shared-data read (logged-out sessions), seven header writes', () => {
  const r = filter.request(authenticatedRequest(cookie));
  assert.equal(r.action, 0, 'continued upstream');
  assert.equal(r.local, null, 'no local response');
  assert.deepEqual(r.calls, { get_header_map: 1, clock: 1, get_shared_data: 1, set_header: 6, remove_header: 1 });
  const upstream = Object.fromEntries(r.headers);
  assert.equal(upstream['remote-user'], 'alice', 'the spoofed Remote-User is replaced');
  assert.equal(upstream['remote-groups'], 'admins,developers');
  assert.equal(upstream['remote-email'], 'alice@example.test');
  assert.equal(upstream['x-bench'], '1');
  assert.equal(upstream.cookie, undefined, 'the header that carried only the session is dropped');
});

test('the same path costs the same with other cookies beside the session', () => {
  const headers = authenticatedRequest(`theme=dark; ${cookie}; lang=en`);
  const r = filter.request(headers);
  assert.equal(r.action, 0);
  assert.deepEqual(r.calls, { get_header_map: 1, clock: 1, get_shared_data: 1, set_header: 7 }, 'the cookie header is rewritten, not removed');
  assert.equal(Object.fromEntries(r.headers).cookie, 'theme=dark; lang=en');
});

test('a browser without a session is redirected locally, with no outbound call', () => {
  const headers = authenticatedRequest('theme=dark')
    .filter(([name]) => !name.startsWith('remote-'))
    .concat([['accept', 'text/html']]);
  const r = filter.request(headers);
  assert.equal(r.local, 302);
  assert.equal(r.calls.outbound_call, undefined);
  assert.equal(r.calls.local_response, 1);
});

test('a tampered session is refused locally, with no outbound call', () => {
  const [name, value] = [cookie.slice(0, cookie.indexOf('=')), cookie.slice(cookie.indexOf('=') + 1)];
  const flipped = value.slice(0, 40) + (value[40] === 'A' ? 'B' : 'A') + value.slice(41);
  const r = filter.request(authenticatedRequest(`${name}=${flipped}`));
  assert.equal(r.action === 0 && r.local === null, false, 'not forwarded');
  assert.equal(r.local, 401);
  assert.equal(r.calls.outbound_call, undefined);
});
