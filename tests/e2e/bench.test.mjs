// The benchmark (issue #6's deliverable) runs end to end: one short round of
// every configuration, in real Envoys, without perf. What it measures is not
// asserted (timing belongs to the benchmark, not to tests); that it runs is:
// every authenticating configuration — Envoy's oauth2 filter, the JWT filter
// both ways, forward auth through ext_authz and tinyauth-wasm — must refuse a
// request without its session and accept one with it before it is measured,
// so a comparison that stopped authenticating fails here rather than in a
// published figure.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { REPO_ROOT } from './lib/procs.mjs';

test('one short round of the benchmark checks and measures every configuration', { timeout: 600_000 }, () => {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tinyauth-bench-')), 'BENCHMARK.md');
  // The README's one command, which also builds (and installs) what it needs.
  const run = spawnSync('bash', [
    path.join(REPO_ROOT, 'envoy-demo/bench.sh'),
    '--rounds', '1', '--duration', '1', '--sessions', '4', '--launches', '1', '--no-perf', '--out', out,
  ], { encoding: 'utf8', timeout: 540_000 });
  assert.equal(run.status, 0, `the benchmark failed:\n${run.stderr.slice(-4000)}`);
  const report = fs.readFileSync(out, 'utf8');
  const authenticating = [
    "Envoy's native oauth2 filter",
    'proxy-wasm filter verifying an HS256 JWT session (jwt-simple), no headers',
    'proxy-wasm filter verifying an HS256 JWT session (jwt-simple), group rule, setting identity headers',
    "forward auth: Envoy's ext_authz asking a check service (Node)",
    'tinyauth-wasm, 1 session, 1 app',
    'tinyauth-wasm, refresh off, 1 session, 1 app',
    'tinyauth-wasm, 1 session, 100 apps',
  ];
  for (const label of authenticating) {
    assert.ok(report.includes(`- ${label}: refuses without a session; accepts the session`), `${label} was not checked:\n${report}`);
    const escaped = label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    assert.match(report, new RegExp(`^\\| ${escaped} \\| [\\d.]+ \\| [+−][\\d.]+ \\|`, 'm'), `no figure for ${label}`);
  }
  assert.match(report, /tinyauth-wasm, 4 sessions, 1 app: refuses without a session; accepts the session \(each of them\)\./);
  for (const label of ['group rule, setting identity headers', 'forward auth']) {
    assert.match(report, new RegExp(`${label}.*: refuses without a session; accepts the session; forbids a session outside the app's group\\.`), `${label}: the group rule was not checked`);
  }
  // Refresh's steady-state cost, paired against the same build with refresh
  // off, whose cookie has no refresh token in it.
  const sizes = /^- what session refresh costs a request that does not make one: tinyauth-wasm, 1 session, 1 app − tinyauth-wasm, refresh off, 1 session, 1 app: [+−][\d.]+ µs \(rounds: [^)]*\); session cookies of (\d+) and (\d+) bytes/m.exec(report);
  assert.ok(sizes, `no paired refresh-on/off line:\n${report}`);
  assert.ok(Number(sizes[1]) > Number(sizes[2]) + 200, `cookies of ${sizes[1]} and ${sizes[2]} bytes: the refresh token is not only in the refreshing one`);
  assert.match(report, /the check service's own CPU was a further [\d.]+ µs per request/);
  assert.match(report, /host calls per authenticated request: get_header_map 1, clock 1, get_shared_data 1, set_header 6, remove_header 1/);
  assert.match(report, /^\| this build \(tinyauth_wasm\.wasm\) \| [\d.]+ \| \+[\d.]+ MiB \|/m, 'the size and memory table');
  assert.match(report, /^\| making the refresh \| \d+ \| [\d.]+ ms \| 1 grant \+ userinfo \|$/m, 'the cost of a refresh is reported');
  assert.match(report, /^\| added by a refresh \| [+−]\d+ \| [+−][\d.]+ ms \| \|$/m);
  assert.match(report, /^\| 4 \| [\d.]+ \| \+[\d.]+ \| \+[\d.]+ \|/m, 'the memory table has the four-worker row');
  assert.match(report, /^\| tinyauth-wasm \| [\d.]+ \| [\d.]+ \| [\d.]+ \|$/m, "where tcmalloc keeps the freed memory (admin /memory/tcmalloc) is reported");
});
