// Envoy's memory with a Wasm module loaded, measured the way the size budget
// is judged: fresh Envoys (plain, and one per module) launched in turn, the
// order reversed every other round, each sent 30 requests then left quiet for
// a second, and its VmRSS read from /proc. Reports the median over the
// launches, and each module's size and RSS over plain Envoy.
//
//   node envoy-demo/bench/rss.mjs [--launches 7] [--concurrency 1] LABEL=FILE.wasm ...
//
// Every module gets filter-config/minimal.json as its configuration (its
// provider is unreachable: the filter answers with a login location, as any
// build of it does), so the comparison is of code, not of state.

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { startEnvoy } from '../../tests/e2e/lib/envoy.mjs';
import { freePorts } from '../../tests/e2e/lib/ports.mjs';
import { REPO_ROOT, stopAll } from '../../tests/e2e/lib/procs.mjs';

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function rssMiB(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]) / 1024;
}

function bootstrap(port, wasm) {
  const filters = [];
  if (wasm) {
    filters.push({
      name: 'envoy.filters.http.wasm',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm',
        config: {
          name: 'filter',
          root_id: 'filter',
          vm_config: { runtime: 'envoy.wasm.runtime.v8', vm_id: 'filter', code: { local: { filename: wasm } } },
          configuration: {
            '@type': 'type.googleapis.com/google.protobuf.StringValue',
            value: fs.readFileSync(path.join(REPO_ROOT, 'filter-config/minimal.json'), 'utf8'),
          },
          fail_open: false,
        },
      },
    });
  }
  filters.push({ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } });
  return JSON.stringify({
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    static_resources: {
      listeners: [{
        name: 'main',
        address: { socket_address: { address: '127.0.0.1', port_value: port } },
        filter_chains: [{
          filters: [{
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              stat_prefix: 'rss',
              route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: 'ok' } } }] }] },
              http_filters: filters,
            },
          }],
        }],
      }],
    },
  });
}

function get(port) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/api/x?a=1', headers: { host: 'app.example.com', accept: 'application/json' } }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
  });
}

/** One launch: RSS in MiB after 30 requests and a second of quiet. */
async function launch(label, wasm, concurrency) {
  const [port] = await freePorts(1);
  const envoy = await startEnvoy({ config: bootstrap(port, wasm), concurrency, name: `rss-${label}`, testName: 'rss', logLevel: 'error' });
  try {
    for (let i = 0; i < 30; i++) await get(port);
    await new Promise((r) => setTimeout(r, 1000));
    return rssMiB(envoy.proc.pid);
  } finally {
    await envoy.stop();
  }
}

/**
 * `modules`: [{label, file}]. Returns {plain, rows: [{label, file, kib,
 * median, over, all}]}, RSS in MiB.
 */
export async function measureRss(modules, { launches = 7, concurrency = 1, log = () => {} } = {}) {
  const kinds = [{ label: 'plain', file: null }, ...modules];
  const samples = new Map(kinds.map((k) => [k.label, []]));
  for (let round = 0; round < launches; round++) {
    const order = round % 2 === 0 ? kinds : [...kinds].reverse();
    for (const k of order) samples.get(k.label).push(await launch(k.label, k.file, concurrency));
    log(`launch ${round + 1}/${launches}: ${kinds.map((k) => `${k.label} ${samples.get(k.label).at(-1).toFixed(1)}`).join(', ')} MiB`);
  }
  const plain = median(samples.get('plain'));
  return {
    plain,
    rows: modules.map((m) => {
      const all = samples.get(m.label);
      return { ...m, kib: fs.statSync(m.file).size / 1024, median: median(all), over: median(all) - plain, all };
    }),
  };
}

/** Markdown lines for a measureRss result. */
export function rssTable({ plain, rows }, launches) {
  const over = (v) => `${v >= 0 ? '+' : '−'}${Math.abs(v - plain).toFixed(1)}`;
  return [
    `| module | size KiB | RSS over plain Envoy (median of ${launches} launches) | range |`,
    '|---|---|---|---|',
    ...rows.map((r) => `| ${r.label} | ${r.kib.toFixed(1)} | ${over(r.median)} MiB | ${over(Math.min(...r.all))} to ${over(Math.max(...r.all))} |`),
    '',
    `Plain Envoy: ${plain.toFixed(1)} MiB.`,
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const option = (name, fallback) => {
    const i = args.indexOf(`--${name}`);
    if (i === -1) return fallback;
    const [value] = args.splice(i, 2).slice(1);
    return value;
  };
  const launches = Number(option('launches', '7'));
  const concurrency = Number(option('concurrency', '1'));
  const modules = args.map((arg) => {
    const [label, file] = arg.includes('=') ? arg.split('=') : [path.basename(arg), arg];
    if (!fs.existsSync(file)) throw new Error(`no module at ${file}`);
    return { label, file: path.resolve(file) };
  });
  if (!modules.length) throw new Error('usage: rss.mjs [--launches 7] [--concurrency 1] LABEL=FILE.wasm ...');
  measureRss(modules, { launches, concurrency, log: (m) => console.error(`[rss] ${m}`) })
    .then((result) => console.log(rssTable(result, launches).join('\n')))
    .catch(async (err) => {
      console.error(err);
      await stopAll();
      process.exit(1);
    });
}
