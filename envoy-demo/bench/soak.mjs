// The soak run (issue #20): real Envoy with two workers and the shipped module
// under mixed load for a long time — authenticated requests over 1,000
// rotating sessions, logins, logouts (whose copied cookies must be refused
// at once), refusals, sessions re-checked with the provider every minute, and
// provider faults injected every few minutes — with Envoy's RSS, the filter's
// VM memory and Envoy's VM counts sampled each minute. Nothing is asserted on
// timing; the verdicts are memory flat after warm-up, zero requests forwarded
// without a session, zero logged-out copies accepted, no VM restart.
//
//   bash envoy-demo/soak.sh [--minutes 30] [--sessions 1000] [--out envoy-demo/BENCHMARK.md]

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

import { Browser, apiClient } from '../../tests/e2e/lib/client.mjs';
import { buildEnvoyConfig, startEnvoy } from '../../tests/e2e/lib/envoy.mjs';
import { freePort } from '../../tests/e2e/lib/ports.mjs';
import { REPO_ROOT, stopAll } from '../../tests/e2e/lib/procs.mjs';
import { baseFilterConfig, defaultClients, loginVia, waitProvidersReady } from '../../tests/e2e/lib/stack.mjs';
import { startPocketId } from '../../tests/e2e/pocket-id/standin.mjs';

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const MINUTES = Number(arg('minutes', '30'));
const SESSIONS = Number(arg('sessions', '1000'));
const OUT = arg('out', path.join(REPO_ROOT, 'envoy-demo', 'BENCHMARK.md'));
const SAMPLE_MS = Number(arg('sample-seconds', '60')) * 1000;
const CONCURRENCY = 24;
const REFRESH_INTERVAL = 60;

const log = (...m) => console.error('[soak]', ...m);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pick = (list) => list[Math.floor(Math.random() * list.length)];

/**
 * The app behind Envoy: counts what reaches it and every request that
 * arrived without the identity the filter sets (the app requires a session
 * everywhere, so there must be none). Nothing is kept per request.
 */
async function startApp() {
  const seen = { requests: 0, withoutIdentity: 0 };
  const server = http.createServer((req, res) => {
    seen.requests++;
    if (!req.headers['remote-user']) seen.withoutIdentity++;
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: server.address().port, seen, close: () => new Promise((r) => { server.close(r); server.closeAllConnections(); }) };
}

function rssMiB(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]) / 1024;
}

async function main() {
  const port = await freePort();
  const appUrl = `http://auth.example.test:${port}`;
  const op = await startPocketId({ port: 0, issuerHost: 'id.example.test', clients: defaultClients(appUrl) });
  const app = await startApp();
  const filterConfig = {
    ...baseFilterConfig({ port, issuer: op.issuer }),
    auth: { refreshInterval: REFRESH_INTERVAL, refreshGrace: 300 },
  };
  const config = buildEnvoyConfig({
    listenPort: port,
    filterConfig,
    clusters: [{ name: 'app', host: '127.0.0.1', port: app.port }, { name: 'pocket_id', host: '127.0.0.1', port: op.port }],
    upstreamCluster: 'app',
    accessLog: false,
  });
  const envoy = await startEnvoy({ config, name: 'soak', testName: 'soak', concurrency: 2, logLevel: 'warn', componentLogLevel: 'wasm:warn' });
  await waitProvidersReady(envoy, ['generic'], 2).catch(() => {});
  const pid = envoy.proc.pid;
  const url = (host, p = '/') => `http://${host}.example.test:${port}${p}`;

  const tally = { ok: 0, refused401: 0, refused403: 0, redirected: 0, unavailable: 0, other: 0, loginsOk: 0, loginsFailed: 0, logouts: 0, copiesAccepted: 0, unexpected: 0, unexpectedBy: {} };
  // An answer the rules do not allow, by kind of request and status.
  const unexpected = (kind, status) => {
    tally.unexpected++;
    const key = `${kind}: ${status}`;
    tally.unexpectedBy[key] = (tally.unexpectedBy[key] ?? 0) + 1;
  };
  const login = async (user) => {
    const b = new Browser();
    b.jar.set('standin_user', user, { url: op.issuer });
    // During a fault the provider may not answer at all.
    const r = await loginVia(b, url(user === 'bob' ? 'whoami' : 'admin', '/')).catch(() => ({ status: 0 }));
    const c = b.jar.list().find((x) => x.name.startsWith('tinyauth-session-'));
    if (r.status !== 200 || !c) {
      tally.loginsFailed++;
      return undefined;
    }
    tally.loginsOk++;
    return `${c.name}=${c.value}`;
  };

  log(`signing in ${SESSIONS} sessions`);
  const users = ['alice', 'erin'];
  const pool = [];
  while (pool.length < SESSIONS) {
    const batch = await Promise.all(Array.from({ length: 8 }, (_, k) => login(users[(pool.length + k) % users.length])));
    pool.push(...batch.filter(Boolean));
  }
  pool.length = SESSIONS;
  const outsiders = (await Promise.all(Array.from({ length: 10 }, () => login('bob')))).filter(Boolean);
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const send = (host, cookie) => new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/soak', agent, headers: { host: `${host}.example.test:${port}`, 'user-agent': 'soak', ...(cookie ? { cookie } : {}) } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, setCookie: res.headers['set-cookie'] ?? [] }));
    });
    req.on('error', () => resolve({ status: 0, setCookie: [] }));
  });

  const started = Date.now();
  const deadline = started + MINUTES * 60_000;
  let running = true;
  const stopAt = setTimeout(() => { running = false; }, deadline - Date.now());

  // Mixed requests, as browsers of the pool would send them (a re-issued
  // session cookie replaces the old one, as a browser's jar does).
  const requester = async () => {
    while (running) {
      const roll = Math.random();
      if (roll < 0.88) {
        const i = Math.floor(Math.random() * pool.length);
        const r = await send(pick(['admin', 'whoami']), pool[i]);
        const renewed = r.setCookie.find((c) => c.startsWith('tinyauth-session-'));
        if (renewed) pool[i] = renewed.split(';')[0];
        if (r.status === 200) tally.ok++;
        else if (r.status === 503) tally.unavailable++;
        else { tally.other++; if (r.status === 401) pool[i] = await login(pick(users)) ?? pool[i]; }
      } else if (roll < 0.93) {
        const r = await send('admin');
        if (r.status === 401) tally.refused401++; else unexpected('no session', r.status);
      } else if (roll < 0.97) {
        // Outsiders' browsers keep re-issued cookies too: a cookie whose
        // refresh token the provider has since rotated away is ended by the
        // next re-check (docs/sessions.md), as for a browser that drops it.
        const k = Math.floor(Math.random() * outsiders.length);
        const r = await send('admin', outsiders[k]);
        const renewed = r.setCookie.find((c) => c.startsWith('tinyauth-session-'));
        if (renewed) outsiders[k] = renewed.split(';')[0];
        if (r.status === 403) tally.refused403++;
        else if (r.status === 503) tally.unavailable++;
        else unexpected('outside the group', r.status);
      } else {
        const cookie = pick(pool);
        const tampered = cookie.slice(0, -6) + (cookie.at(-6) === 'A' ? 'B' : 'A') + cookie.slice(-5);
        const r = await send('whoami', tampered);
        if (r.status === 401) tally.refused401++; else unexpected('tampered cookie', r.status);
      }
    }
  };
  // Logins rotate the pool; logouts check that a copy is refused at once.
  const rotator = async () => {
    while (running) {
      await sleep(500);
      const fresh = await login(pick(users));
      if (fresh) pool[Math.floor(Math.random() * pool.length)] = fresh;
      if (tally.loginsOk % 10 === 0) {
        const i = Math.floor(Math.random() * pool.length);
        const copy = pool[i];
        const out = await apiClient().request('POST', `${appUrl}/api/user/logout`, { headers: { Cookie: copy } }).catch(() => undefined);
        if (out?.status === 200) {
          tally.logouts++;
          for (let k = 0; k < 4; k++) {
            const r = await send('whoami', copy);
            if (r.status === 200) tally.copiesAccepted++;
          }
        }
        pool[i] = (await login(pick(users))) ?? pool[i];
      }
    }
  };
  // Provider faults every few minutes: the token endpoint failing, then the
  // provider gone altogether.
  const faults = [];
  const faulter = async () => {
    let n = 0;
    while (running) {
      await sleep(Math.min(180_000, (MINUTES * 60_000) / 4));
      if (!running) break;
      const kind = n++ % 2 === 0 ? 'token endpoint answering 500' : 'provider unreachable';
      const at = ((Date.now() - started) / 60_000).toFixed(1);
      log(`fault at ${at} min: ${kind}`);
      faults.push(`${at} min: ${kind} for 30 s`);
      if (kind.startsWith('token')) op.setFault('token', '500');
      else await op.close();
      await sleep(30_000);
      if (kind.startsWith('token')) op.setFault('token', null);
      else await op.start();
    }
  };

  const samples = [];
  const sample = async () => {
    const stats = await envoy.stats();
    // Envoy files the filter's own metrics under `wasmcustom.`.
    samples.push({
      minute: (Date.now() - started) / 60_000,
      rss: rssMiB(pid),
      vmMemory: (stats['wasmcustom.tinyauth.vm.memory_bytes'] ?? 0) / 2 ** 20,
      vmsCreated: stats['wasm.envoy.wasm.runtime.v8.created'],
      vmsActive: stats['wasm.envoy.wasm.runtime.v8.active'],
      vmReloads: stats['wasm.tinyauth.vm_reload'] ?? 0,
      requests: app.seen.requests,
      refreshed: stats['wasmcustom.tinyauth.sessions.refreshed'] ?? 0,
      ...tally,
    });
    const s = samples.at(-1);
    log(`${s.minute.toFixed(1)} min: RSS ${s.rss.toFixed(1)} MiB, VM memory ${s.vmMemory.toFixed(1)} MiB, VMs ${s.vmsActive}/${s.vmsCreated}, ${s.requests} upstream requests, ${s.refreshed} refreshes`);
  };

  log(`load for ${MINUTES} min`);
  await sample();
  const sampler = setInterval(() => { sample().catch((err) => log(`sample failed: ${err.message}`)); }, SAMPLE_MS);
  await Promise.all([...Array.from({ length: CONCURRENCY }, requester), rotator(), faulter()]);
  clearInterval(sampler);
  clearTimeout(stopAt);
  await sample();
  const crashed = /panic|Wasm VM failed|VM fault|abort/i.test(envoy.logs());
  await envoy.stop();
  await op.close();
  await app.close();
  agent.destroy();
  await stopAll();

  report({ samples, faults, crashed, withoutIdentity: app.seen.withoutIdentity });
}

function report({ samples, faults, crashed, withoutIdentity }) {
  const last = samples.at(-1);
  // Warm-up: the first fifth of the run (at least the first sample).
  const warm = samples.find((s) => s.minute >= Math.max(1, last.minute / 5)) ?? samples[0];
  const growth = (key) => last[key] - warm[key];
  const restarts = (last.vmsCreated ?? 0) - (samples[0].vmsCreated ?? 0) + (last.vmReloads ?? 0);
  const lines = [
    '## Soak',
    '',
    `Generated by \`bash envoy-demo/soak.sh\` on ${new Date().toISOString().slice(0, 10)}: ${last.minute.toFixed(0)} minutes, Envoy with 2 workers and the shipped module, the Pocket ID stand-in, ${CONCURRENCY} concurrent clients: 88 % authenticated requests over ${SESSIONS} rotating sessions (a login every half second replaces one; every tenth login a session is logged out and its copied cookie tried four times), 5 % without a session, 4 % signed in outside the app's group, 3 % tampered cookies; sessions re-checked with the provider every ${REFRESH_INTERVAL} s; provider faults: ${faults.join('; ') || 'none (run too short)'}.`,
    '',
    '| minute | Envoy RSS MiB | filter VM memory MiB | VMs active / created | requests reaching the app | session refreshes | logins | logouts |',
    '|---|---|---|---|---|---|---|---|',
    ...samples.map((s) => `| ${s.minute.toFixed(1)} | ${s.rss.toFixed(1)} | ${s.vmMemory.toFixed(1)} | ${s.vmsActive ?? '?'} / ${s.vmsCreated ?? '?'} | ${s.requests} | ${s.refreshed} | ${s.loginsOk} | ${s.logouts} |`),
    '',
    'Verdicts:',
    '',
    `- Envoy RSS from minute ${warm.minute.toFixed(1)} to the end: ${growth('rss') >= 0 ? '+' : ''}${growth('rss').toFixed(1)} MiB; the filter's VM memory: ${growth('vmMemory') >= 0 ? '+' : ''}${growth('vmMemory').toFixed(1)} MiB.`,
    `- Requests that reached the app without the filter's identity: ${withoutIdentity}.`,
    `- Logged-out copies accepted: ${last.copiesAccepted} (of ${last.logouts * 4} tries).`,
    `- Answers that contradict the rules (a request without a session, with a tampered cookie or outside the app's group not refused as such): ${last.unexpected}${last.unexpected ? ` (${Object.entries(last.unexpectedBy).map(([k, n]) => `${k} × ${n}`).join('; ')})` : ''}.`,
    `- VM restarts: ${restarts}; a panic or VM failure in Envoy's log: ${crashed ? 'yes' : 'no'}.`,
    `- Outcomes: ${last.ok} authenticated requests served, ${last.unavailable} answered 503 (provider unreachable past the grace period, or a login needed during a fault), ${last.refused401} refused 401, ${last.refused403} refused 403, ${last.loginsFailed} logins failed during faults.`,
    '',
  ];
  const BEGIN = '<!-- generated by envoy-demo/soak.sh: begin -->';
  const END = '<!-- generated by envoy-demo/soak.sh: end -->';
  const block = `${BEGIN}\n${lines.join('\n')}\n${END}`;
  const old = fs.existsSync(OUT) ? fs.readFileSync(OUT, 'utf8') : '';
  const [b, e] = [old.indexOf(BEGIN), old.indexOf(END)];
  fs.writeFileSync(OUT, b >= 0 && e > b ? `${old.slice(0, b)}${block}${old.slice(e + END.length)}` : `${old}${old ? '\n' : ''}${block}\n`);
  console.log(lines.join('\n'));
  if (withoutIdentity > 0 || last.copiesAccepted > 0 || last.unexpected > 0 || restarts > 0 || crashed) {
    console.error('[soak] a verdict failed');
    process.exitCode = 1;
  }
}

main().catch(async (err) => {
  console.error(`[soak] ${err.stack ?? err}`);
  await stopAll();
  process.exit(1);
});
