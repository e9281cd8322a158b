// What an operator sees, in real Envoy with two workers: the filter's counters
// in Envoy's stats after a scripted set of requests (exact values, added up
// over every worker's VM), the audit lines of logins, refusals and logouts,
// and a health endpoint that answers 503 while the provider is down and 200
// once it is back.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { apiClient } from './lib/client.mjs';
import { freePort } from './lib/ports.mjs';
import { CLIENT_ID, CLIENT_SECRET, SECRET, loginVia, startStack } from './lib/stack.mjs';
import { startPocketId } from './pocket-id/standin.mjs';
import { buildEnvoyConfig, startEnvoy } from './lib/envoy.mjs';
import { startEchoUpstream } from './lib/upstream.mjs';

/** The filter's stats, `name → value`, from the admin /stats page. */
async function tinyauthStats(envoy) {
  const page = await envoy.admin('/stats?filter=tinyauth');
  assert.equal(page.status, 200);
  const stats = {};
  for (const line of page.body.split('\n')) {
    const m = /^(?:wasmcustom\.)?(tinyauth\.[\w.]+): (\d+)$/.exec(line.trim());
    if (m) stats[m[1]] = Number(m[2]);
  }
  return stats;
}

/** Waits until the VMs have handed their counts to Envoy (their timer ticks every 250 ms). */
async function settledStats(envoy, name, want) {
  const deadline = Date.now() + 5000;
  for (;;) {
    const stats = await tinyauthStats(envoy);
    if (stats[name] === want || Date.now() > deadline) return stats;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('stats and audit lines', () => {
  let s;
  before(async () => {
    s = await startStack({ name: 'operations' }, {
      customize: (c) => {
        c.apps.admin.path = { allow: '^/public/' };
        return c;
      },
    });
  });
  after(() => s?.stop());

  test('every outcome is counted once, added up over the workers', async () => {
    const api = apiClient();
    assert.equal((await api.get(s.url('whoami', '/'))).status, 401);
    assert.equal((await api.get(s.url('admin', '/public/x'))).status, 200);
    const alice = s.browser('alice');
    assert.equal((await loginVia(alice, s.url('whoami', '/'))).status, 200);
    for (let i = 0; i < 3; i++) assert.equal((await alice.get(s.url('whoami', '/'))).status, 200);
    const bob = s.browser('bob');
    const refused = await loginVia(bob, s.url('admin', '/'));
    assert.equal(refused.status, 403, 'bob is not in admins');
    const stale = await s.browser(null).get(`${s.appUrl}/api/oauth/callback/generic?code=x&state=nosuchlogin`);
    assert.equal(stale.status, 400);
    assert.equal((await alice.get(`${s.appUrl}/logout`)).status, 200);

    const stats = await settledStats(s.envoy, 'tinyauth.logouts', 1);
    const want = {
      'tinyauth.requests.refused_401': 1,
      'tinyauth.requests.allowed_public': 1,
      'tinyauth.requests.redirected_to_login': 2,
      'tinyauth.requests.allowed_session': 4,
      'tinyauth.requests.refused_403.group': 1,
      'tinyauth.requests.refused_403.ip': 0,
      'tinyauth.logins.started': 2,
      'tinyauth.logins.succeeded': 2,
      'tinyauth.logins.failed.state': 1,
      'tinyauth.logins.failed.whitelist': 0,
      'tinyauth.logouts': 1,
      'tinyauth.provider_calls.token.ok': 2,
      'tinyauth.provider_calls.userinfo.ok': 2,
      'tinyauth.provider_calls.token.unreachable': 0,
      'tinyauth.provider.generic.ready': 1,
    };
    for (const [name, value] of Object.entries(want)) {
      assert.equal(stats[name], value, `${name} (all: ${JSON.stringify(stats)})`);
    }
    // Each VM fetched discovery and the key set once.
    assert.ok(stats['tinyauth.provider_calls.discovery.ok'] >= 1);
    const prometheus = await s.envoy.admin('/stats/prometheus');
    assert.match(prometheus.body, /tinyauth_requests_allowed_session\S* 4/);
    // Envoy folds recorded values into its histograms on its stats flush (every 5 s).
    let histogram;
    const flushed = Date.now() + 12000;
    do {
      histogram = await s.envoy.admin('/stats?filter=tinyauth.provider_calls.token.latency_ms');
      if (/latency_ms: P0\(/.test(histogram.body)) break;
      await new Promise((r) => setTimeout(r, 250));
    } while (Date.now() < flushed);
    assert.match(histogram.body, /latency_ms: P0\(/, `provider latency is a histogram:\n${histogram.body}`);
  });

  test('logins, refusals and logouts each write one audit line with who, where from and the request id', async () => {
    const logs = s.envoy.logs().split('\n').filter((line) => line.includes('audit event='));
    const login = logs.find((line) => /event=login decision=allow user="alice"/.test(line));
    assert.ok(login, logs.join('\n'));
    assert.match(login, /\[info\]/);
    assert.match(login, /email="alice@example\.test" provider="generic" app="whoami" ip="127\.0\.0\.1" request_id="[0-9a-f-]{36}"/);
    const refusal = logs.find((line) => /event=refused decision=deny/.test(line));
    assert.match(refusal, /reason="not in any of the app's oauth\.groups" user="bob" email="bob@example\.test" provider="generic" app="admin" ip="127\.0\.0\.1" request_id=/);
    const failed = logs.find((line) => /event=login_failed/.test(line));
    assert.match(failed, /reason="no valid login cookie for this state" provider="generic"/);
    const logout = logs.find((line) => /event=logout decision=allow/.test(line));
    assert.match(logout, /user="alice" email="alice@example\.test" provider="generic"/);
    assert.equal(logs.filter((line) => /event=login decision=allow/.test(line)).length, 2, 'one line per login');
    // Envoy's prefix names the plugin once.
    assert.doesNotMatch(s.envoy.logs(), /wasm log tinyauth tinyauth tinyauth/);
  });
});

test('health answers 503 with the reason while the provider is down, and 200 once it is back', async (t) => {
  const providerPort = await freePort();
  const port = await freePort();
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  const issuer = `http://id.example.test:${providerPort}`;
  const config = buildEnvoyConfig({
    listenPort: port,
    filterConfig: {
      appUrl: `http://auth.example.test:${port}`,
      secret: SECRET,
      oauth: { providers: { generic: { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, issuer, cluster: 'pocket_id', timeoutMs: 1000 } } },
    },
    clusters: [{ name: 'app', host: '127.0.0.1', port: upstream.port }, { name: 'pocket_id', host: '127.0.0.1', port: providerPort }],
    upstreamCluster: 'app',
  });
  const envoy = await startEnvoy({ config, t, name: 'health', concurrency: 1 });
  t.after(() => envoy.stop());
  const health = () => apiClient().get(`http://auth.example.test:${port}/api/healthz`);
  const down = await health();
  assert.equal(down.status, 503);
  const body = JSON.parse(down.body);
  assert.equal(body.status, 503);
  assert.match(body.providers.generic, /discovery (failed|.*not been fetched)/);
  assert.equal((await apiClient().get(`http://auth.example.test:${port}/api/livez`)).status, 200, 'liveness does not depend on the provider');
  const op = await startPocketId({ port: providerPort, issuerHost: 'id.example.test', clients: [] });
  t.after(() => op.close());
  const deadline = Date.now() + 30000;
  let up = await health();
  while (up.status !== 200 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    up = await health();
  }
  assert.equal(up.status, 200, up.body);
  assert.deepEqual(JSON.parse(up.body).providers, { generic: 'ready' });
});

test('a provider cluster Envoy does not have is one critical line at start, and health says so', async (t) => {
  const port = await freePort();
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  const config = buildEnvoyConfig({
    listenPort: port,
    filterConfig: {
      appUrl: `http://auth.example.test:${port}`,
      secret: SECRET,
      oauth: { providers: { generic: { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, issuer: 'https://pocket-id.example.com' } } },
    },
    clusters: [{ name: 'app', host: '127.0.0.1', port: upstream.port }],
    upstreamCluster: 'app',
  });
  const envoy = await startEnvoy({ config, t, name: 'no-cluster', concurrency: 1 });
  t.after(() => envoy.stop());
  const deadline = Date.now() + 10000;
  while (!/\[critical\].*Envoy has no cluster/.test(envoy.logs()) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const critical = envoy.logs().split('\n').filter((line) => /\[critical\].*Envoy has no cluster `outbound\|443\|\|pocket-id\.example\.com`/.test(line));
  assert.ok(critical.length >= 1, envoy.tail());
  assert.match(critical[0], /define a cluster of that name/);
  // Retries do not repeat it: at most one per VM (main thread and one worker).
  await new Promise((r) => setTimeout(r, 3500));
  const again = envoy.logs().split('\n').filter((line) => /\[critical\].*Envoy has no cluster/.test(line));
  assert.ok(again.length <= 2, again.join('\n'));
  const health = await apiClient().get(`http://auth.example.test:${port}/api/healthz`);
  assert.equal(health.status, 503);
  assert.match(JSON.parse(health.body).providers.generic, /Envoy has no cluster `outbound\|443\|\|pocket-id\.example\.com`/);
});
