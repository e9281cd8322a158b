// A minimal proxy-wasm (ABI 0.2.1) host in Node, for the shipped module's whole
// per-request path outside Envoy: context create, request headers, response
// headers, delete, through the SDK's dispatch and the ABI's marshalling. It
// counts the host calls a request makes and times requests under V8, the
// engine Envoy embeds. It implements only what the filter uses; any other
// import throws, so a new host call on a measured path is noticed.
//
//   node --no-liftoff --no-wasm-lazy-compilation envoy-demo/bench/abi-host.mjs [rounds]
//
// (the flags make V8 compile as Envoy runs it: every function by TurboFan at load);
//
// needs `bash build.sh` and `cargo build --example seal_session` (which seals
// the session the requests carry).

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const NOW = 1_800_000_000;

/** The configuration the requests run against (the benchmark's admin app). */
export const CONFIG = {
  appUrl: 'http://auth.example.test:8080',
  secret: '0123456789abcdef0123456789abcdef',
  oauth: {
    providers: {
      generic: {
        name: 'Pocket ID', clientId: 'c', clientSecret: 's',
        authUrl: 'http://id.example.test/authorize',
        tokenUrl: 'http://id.example.test/api/oidc/token',
        userInfoUrl: 'http://id.example.test/api/oidc/userinfo',
        cluster: 'pocket_id', verifyIdToken: false,
      },
    },
  },
  apps: { admin: { oauth: { groups: 'admins' }, response: { headers: 'X-Bench=1' } } },
};

/** A session cookie for CONFIG, sealed by the crate itself (examples/seal_session.rs). */
export function sealedSession() {
  const tool = path.join(REPO_ROOT, 'target/debug/examples/seal_session');
  if (!fs.existsSync(tool)) throw new Error(`${tool} is missing; run: cargo build --example seal_session`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tinyauth-abi-'));
  try {
    const file = path.join(dir, 'config.json');
    fs.writeFileSync(file, JSON.stringify(CONFIG));
    return execFileSync(tool, [file, String(NOW)], { encoding: 'utf8' }).trim();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function serializePairs(pairs) {
  const parts = pairs.map(([k, v]) => [enc.encode(k), enc.encode(v)]);
  let size = 4 + parts.length * 8;
  for (const [k, v] of parts) size += k.length + v.length + 2;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, parts.length, true);
  let at = 4;
  for (const [k, v] of parts) {
    view.setUint32(at, k.length, true);
    view.setUint32(at + 4, v.length, true);
    at += 8;
  }
  for (const [k, v] of parts) {
    out.set(k, at);
    at += k.length + 1;
    out.set(v, at);
    at += v.length + 1;
  }
  return out;
}

/**
 * Loads `wasmFile`, configures it with CONFIG, and returns `request(headers)`,
 * which runs one request through the module and reports what it did.
 */
export function loadFilter(wasmFile) {
  const config = enc.encode(JSON.stringify(CONFIG));
  let exports;
  const u8 = () => new Uint8Array(exports.memory.buffer);
  const view = () => new DataView(exports.memory.buffer);
  const str = (ptr, len) => dec.decode(u8().subarray(ptr, ptr + len));
  const give = (bytes, retPtr, retLen) => {
    const ptr = exports.proxy_on_memory_allocate(bytes.length);
    u8().set(bytes, ptr);
    view().setUint32(retPtr, ptr, true);
    view().setUint32(retLen, bytes.length, true);
  };
  // The request being processed; `fast` skips the bookkeeping when timing.
  let current = { headers: [], serialized: null, calls: {}, local: null, fast: false };
  const count = (name) => {
    if (!current.fast) current.calls[name] = (current.calls[name] ?? 0) + 1;
  };
  const setHeader = (name, value) => {
    current.headers = current.headers.filter(([n]) => n !== name);
    if (value !== null) current.headers.push([name, value]);
  };
  const env = {
    proxy_log: () => { count('log'); return 0; },
    proxy_get_current_time_nanoseconds: (ptr) => { count('clock'); view().setBigUint64(ptr, BigInt(NOW) * 1_000_000_000n, true); return 0; },
    proxy_get_buffer_bytes: (type, start, max, retPtr, retLen) => {
      count('get_buffer');
      if (type !== 7) return 1; // only the plugin configuration
      give(config, retPtr, retLen);
      return 0;
    },
    proxy_get_header_map_pairs: (type, retPtr, retLen) => {
      count('get_header_map');
      if (type !== 0) return 1;
      give(current.serialized ?? serializePairs(current.headers), retPtr, retLen);
      return 0;
    },
    proxy_replace_header_map_value: (type, kp, kl, vp, vl) => { count('set_header'); if (type === 0 && !current.fast) setHeader(str(kp, kl), str(vp, vl)); return 0; },
    proxy_add_header_map_value: (type, kp, kl, vp, vl) => { count('add_header'); return 0; },
    proxy_remove_header_map_value: (type, kp, kl) => { count('remove_header'); if (type === 0 && !current.fast) setHeader(str(kp, kl), null); return 0; },
    proxy_send_local_response: (status, dp, dl, bp, bl, hp, hl, grpc) => { count('local_response'); current.local = status; return 0; },
    proxy_http_call: () => { count('outbound_call'); return 1; },
    proxy_set_tick_period_milliseconds: () => 0,
    // Metrics are defined at configure and handed to the host on the timer,
    // so a request's own calls never include these.
    proxy_define_metric: (type, namePtr, nameLen, idPtr) => { count('define_metric'); view().setUint32(idPtr, ++metricIds, true); return 0; },
    proxy_increment_metric: () => { count('increment_metric'); return 0; },
    proxy_record_metric: () => { count('record_metric'); return 0; },
    proxy_get_property: () => { count('get_property'); return 1; },
    // Shared data as Envoy keeps it: a value and a CAS number per key; a
    // write with a stale CAS is refused (8, CasMismatch), a missing key is
    // NotFound (1).
    proxy_get_shared_data: (kp, kl, retPtr, retLen, casPtr) => {
      count('get_shared_data');
      const entry = shared.get(str(kp, kl));
      if (!entry) return 1;
      give(entry.value, retPtr, retLen);
      view().setUint32(casPtr, entry.cas, true);
      return 0;
    },
    proxy_set_shared_data: (kp, kl, vp, vl, cas) => {
      count('set_shared_data');
      const key = str(kp, kl);
      const entry = shared.get(key);
      if (entry && cas !== 0 && cas !== entry.cas) return 8;
      shared.set(key, { value: u8().slice(vp, vp + vl), cas: ++casCounter });
      return 0;
    },
  };
  const shared = new Map();
  let casCounter = 0;
  let metricIds = 0;
  const module = new WebAssembly.Module(fs.readFileSync(wasmFile));
  for (const imp of WebAssembly.Module.imports(module)) {
    if (imp.module === 'env' && !env[imp.name]) env[imp.name] = () => { throw new Error(`unexpected host call ${imp.name}`); };
  }
  const wasi = {
    random_get: (ptr, len) => { u8().fill(7, ptr, ptr + len); return 0; },
    environ_sizes_get: (countPtr, sizePtr) => { view().setUint32(countPtr, 0, true); view().setUint32(sizePtr, 0, true); return 0; },
    environ_get: () => 0,
    fd_write: () => 0,
    proc_exit: (code) => { throw new Error(`proc_exit(${code})`); },
    // Linked by jwt-simple's clock; the filter passes its own time (from the
    // proxy's clock) to every check, so a request never reaches this.
    clock_time_get: (id, precision, outPtr) => { count('wasi_clock'); view().setBigUint64(outPtr, 0n, true); return 0; },
  };
  for (const imp of WebAssembly.Module.imports(module)) {
    if (imp.module === 'wasi_snapshot_preview1' && !wasi[imp.name]) wasi[imp.name] = () => { throw new Error(`unexpected WASI call ${imp.name}`); };
  }
  ({ exports } = new WebAssembly.Instance(module, { env, wasi_snapshot_preview1: wasi }));
  exports._initialize();
  exports.proxy_on_context_create(1, 0);
  if (!exports.proxy_on_vm_start(1, 0)) throw new Error('proxy_on_vm_start failed');
  if (!exports.proxy_on_configure(1, config.length)) throw new Error('proxy_on_configure refused CONFIG');
  let nextId = 2;
  /** The callbacks Envoy makes for one request of `count` headers; the response's only when it went upstream. */
  const cycle = (count) => {
    const id = nextId++;
    exports.proxy_on_context_create(id, 1);
    const action = exports.proxy_on_request_headers(id, count, 1);
    if (current.local === null) exports.proxy_on_response_headers(id, 1, 1);
    exports.proxy_on_delete(id);
    return action;
  };
  return {
    /** One request; returns its action (0 = continue), host calls, upstream headers and local response status. */
    request(headers) {
      current = { headers: [...headers], serialized: null, calls: {}, local: null, fast: false };
      const action = cycle(headers.length);
      return { action, calls: current.calls, headers: current.headers, local: current.local };
    },
    /** Mean µs per request over `rounds` requests with `headers` (after a warm-up). */
    time(headers, rounds) {
      const run = (n) => {
        current = { headers, serialized: serializePairs(headers), calls: {}, local: null, fast: true };
        for (let i = 0; i < n; i++) cycle(headers.length);
      };
      run(Math.min(20_000, rounds));
      const start = process.hrtime.bigint();
      run(rounds);
      return Number(process.hrtime.bigint() - start) / rounds / 1000;
    },
  };
}

/** The benchmark's authenticated request: the session, spoofed identity headers. */
export function authenticatedRequest(cookie) {
  return [
    [':authority', 'admin.example.test:8080'], [':path', '/dash'], [':method', 'GET'], [':scheme', 'http'],
    ['user-agent', 'wrk'], ['cookie', cookie], ['remote-user', 'mallory'], ['remote-groups', 'admins'],
    ['x-forwarded-proto', 'http'], ['x-request-id', '0b8c2b9e-5d0f-4a4e-9f55-8f9f5c2d7a10'],
  ];
}

function main(rounds) {
  const wasm = path.join(REPO_ROOT, 'target/tinyauth_wasm.wasm');
  if (!fs.existsSync(wasm)) throw new Error(`${wasm} is missing; run: bash build.sh`);
  const filter = loadFilter(wasm);
  const headers = authenticatedRequest(sealedSession());
  const one = filter.request(headers);
  if (one.action !== 0 || one.local !== null) throw new Error(`the session was refused (local response ${one.local})`);
  const calls = Object.entries(one.calls).map(([name, n]) => `${name} ${n}`).join(', ');
  console.log(`host calls per authenticated request: ${calls}`);
  console.log(`whole request through the ABI: ${filter.time(headers, rounds).toFixed(3)} µs`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    main(Number(process.argv[2] ?? 200_000));
  } catch (err) {
    console.error(`abi-host: ${err.message}`);
    process.exit(1);
  }
}
