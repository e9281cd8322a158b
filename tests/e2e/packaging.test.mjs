// Packaging and ways to run: the shipped module's exports, the optimizer, and
// the demo under func-e (the OCI image is checked in oci.test.mjs).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { apiClient, rawGet } from './lib/client.mjs';
import { envoyBinary, wasmPath } from './lib/envoy.mjs';
import { freePorts } from './lib/ports.mjs';
import { REPO_ROOT, startProcess } from './lib/procs.mjs';
import { KEEP } from '../../tools/optimize-wasm.mjs';

test('the shipped module exports only the callbacks the filter implements', () => {
  const exported = WebAssembly.Module.exports(new WebAssembly.Module(fs.readFileSync(wasmPath()))).map((e) => e.name);
  assert.deepEqual([...exported].sort(), [...KEEP].sort(), `${wasmPath()} is not the output of bash build.sh`);
});

test('every SDK callback the filter implements stays exported', () => {
  // The SDK method each export drives; a method missing here must be added
  // (with its export) before the filter may implement it.
  const exportOf = {
    on_vm_start: 'proxy_on_vm_start',
    on_configure: 'proxy_on_configure',
    on_tick: 'proxy_on_tick',
    on_http_call_response: 'proxy_on_http_call_response',
    on_http_request_headers: 'proxy_on_request_headers',
    on_http_request_body: 'proxy_on_request_body',
    on_http_request_trailers: 'proxy_on_request_trailers',
    on_http_response_headers: 'proxy_on_response_headers',
    on_http_response_body: 'proxy_on_response_body',
    on_http_response_trailers: 'proxy_on_response_trailers',
    on_log: 'proxy_on_log',
    on_done: 'proxy_on_done',
  };
  const shell = path.join(REPO_ROOT, 'src/shell');
  const implemented = new Set();
  for (const file of fs.readdirSync(shell)) {
    for (const m of fs.readFileSync(path.join(shell, file), 'utf8').matchAll(/\bfn (on_[a-z_]+)\(/g)) implemented.add(m[1]);
  }
  assert.ok(implemented.has('on_http_request_headers'), 'the scan finds the filter\'s callbacks');
  for (const method of implemented) {
    assert.ok(exportOf[method], `src/shell implements ${method}, which this test does not know`);
    assert.ok(KEEP.includes(exportOf[method]), `src/shell implements ${method}, but tools/optimize-wasm.mjs does not keep ${exportOf[method]}`);
  }
});

test('the optimizer refuses a module that lacks a callback the filter needs', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tinyauth-opt-'));
  try {
    // A valid module exporting only `memory`: (module (memory (export "memory") 1)).
    const bytes = Buffer.from('0061736d010000000503010001070a01066d656d6f72790200', 'hex');
    const input = path.join(dir, 'in.wasm');
    fs.writeFileSync(input, bytes);
    const run = () => execFileSync(process.execPath, [path.join(REPO_ROOT, 'tools/optimize-wasm.mjs'), input, path.join(dir, 'out.wasm')], { stdio: 'pipe' });
    assert.throws(run, (err) => /does not export _initialize, proxy_abi_version_0_2_1/.test(String(err.stderr)));
    assert.ok(!fs.existsSync(path.join(dir, 'out.wasm')), 'no output is written');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the optimizer keeps exactly the exports --exports names (as the benchmark builds its comparison filters)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tinyauth-opt-'));
  try {
    // (module (memory (export "memory") 1) (func (export "proxy_on_log")))
    const bytes = Buffer.from('0061736d01000000010401600000030201000503010001071902066d656d6f727902000c70726f78795f6f6e5f6c6f6700000a040102000b', 'hex');
    const input = path.join(dir, 'in.wasm');
    const output = path.join(dir, 'out.wasm');
    fs.writeFileSync(input, bytes);
    assert.deepEqual(WebAssembly.Module.exports(new WebAssembly.Module(bytes)).map((e) => e.name), ['memory', 'proxy_on_log']);
    const tool = path.join(REPO_ROOT, 'tools/optimize-wasm.mjs');
    execFileSync(process.execPath, [tool, '--exports', 'memory', input, output], { stdio: 'pipe' });
    assert.deepEqual(WebAssembly.Module.exports(new WebAssembly.Module(fs.readFileSync(output))).map((e) => e.name), ['memory']);
    assert.throws(
      () => execFileSync(process.execPath, [tool, '--exports', '', input, output], { stdio: 'pipe' }),
      (err) => /--exports needs a comma-separated list/.test(String(err.stderr)),
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the demo runs Envoy through func-e when func-e is installed', async (t) => {
  const envoy = envoyBinary();
  const shimDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tinyauth-func-e-'));
  const callLog = path.join(shimDir, 'calls.log');
  // A stand-in func-e: records how it was called, then runs the real Envoy
  // (func-e itself would download one, which this machine cannot).
  fs.writeFileSync(path.join(shimDir, 'func-e'),
    `#!/usr/bin/env bash\necho "ENVOY_VERSION=$ENVOY_VERSION $*" >> "${callLog}"\n[ "$1" = run ] && shift\nexec "${envoy}" "$@"\n`, { mode: 0o755 });
  const [port, idPort, appPort, adminPort] = await freePorts(4);
  const demo = await startProcess({
    name: 'demo-func-e',
    testName: 'demo-func-e',
    command: 'bash',
    args: [path.join(REPO_ROOT, 'envoy-demo/run.sh')],
    env: {
      ...process.env,
      PATH: `${shimDir}:${process.env.PATH}`,
      DEMO_PORT: String(port),
      DEMO_ID_PORT: String(idPort),
      DEMO_APP_PORT: String(appPort),
      DEMO_ADMIN_PORT: String(adminPort),
      // Its own run directory: another suite may run the demo at the same time.
      DEMO_RUN_DIR: path.join(shimDir, 'run'),
    },
    ready: /\[demo\] ready/,
    readyTimeoutMs: 180000,
  });
  t.after(async () => {
    await demo.stop({ graceMs: 5000 });
    fs.rmSync(shimDir, { recursive: true, force: true });
  });
  assert.match(demo.logs(), /\[demo\] using func-e \(.*\) with Envoy 1\.40\.0/);
  const calls = fs.readFileSync(callLog, 'utf8');
  assert.ok(calls.startsWith(`ENVOY_VERSION=1.40.0 run -c ${path.join(shimDir, 'run')}/envoy.yaml `), calls);
  const r = await apiClient().get(`http://whoami.demo.localhost:${port}/`);
  assert.equal(r.status, 401, 'the filter answers through the func-e Envoy');
  // The demo's envoy.yaml is hardened (docs/envoy-hardening.md).
  const underscore = await rawGet(port, `whoami.demo.localhost:${port}`, '/', { remote_user: 'alice' });
  assert.equal(underscore.status, 400, 'headers_with_underscores_action: REJECT_REQUEST');
  const escaped = await rawGet(port, `whoami.demo.localhost:${port}`, '/a%2Fb');
  assert.equal(escaped.status, 307, 'path_with_escaped_slashes_action: UNESCAPE_AND_REDIRECT');
});

test('without func-e the demo says so once and runs the PyPI Envoy', async (t) => {
  // PATH without any func-e: only the directories of node, bash and the coreutils.
  const pathDirs = [...new Set([path.dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'])];
  const [port, idPort, appPort, adminPort] = await freePorts(4);
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tinyauth-demo-'));
  const demo = await startProcess({
    name: 'demo-pypi',
    testName: 'demo-pypi',
    command: 'bash',
    args: [path.join(REPO_ROOT, 'envoy-demo/run.sh')],
    env: {
      ...process.env,
      PATH: pathDirs.join(':'),
      DEMO_PORT: String(port),
      DEMO_ID_PORT: String(idPort),
      DEMO_APP_PORT: String(appPort),
      DEMO_ADMIN_PORT: String(adminPort),
      DEMO_RUN_DIR: runDir,
    },
    ready: /\[demo\] ready/,
    readyTimeoutMs: 180000,
  });
  t.after(async () => {
    await demo.stop({ graceMs: 5000 });
    fs.rmSync(runDir, { recursive: true, force: true });
  });
  const mentions = demo.logs().split('\n').filter((line) => /func-e/.test(line));
  assert.equal(mentions.length, 1, mentions.join('\n'));
  assert.match(mentions[0], /\[demo\] func-e is not installed \(see https:\/\/func-e\.io\); using Envoy 1\.40\.0 from PyPI \(.*envoy-venv\/bin\/envoy\)/);
  const r = await apiClient().get(`http://whoami.demo.localhost:${port}/`);
  assert.equal(r.status, 401, 'the filter answers through the PyPI Envoy');
});
