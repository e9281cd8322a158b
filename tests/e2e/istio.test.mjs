// The filter delivered the way Istio delivers it: the shipped
// filter-config/istio/wasmplugin.yaml translated as istiod does (an ECDS
// TypedExtensionConfig named <namespace>.<name>, root_id = pluginName,
// pluginConfig marshalled to JSON in a StringValue, vmConfig.env as
// environment_variables with HOST values from Envoy's own environment), loaded
// by Envoy through extension config discovery from a file; clusters named the
// Istio way; the Pocket ID stand-in served over HTTPS with certificates made
// at test time. Then a full login. A second Envoy takes ECDS updates: one with
// an invalid pluginConfig, which Envoy refuses (the filter's on_configure
// fails in Envoy's configuration canary VM) while the previous version keeps
// serving, then a valid one, which applies.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import YAML from 'yaml';

import { startPocketId } from './pocket-id/standin.mjs';
import { makeServerCert } from './lib/certs.mjs';
import { Browser, apiClient, rawGet } from './lib/client.mjs';
import { buildEnvoyConfig, startEnvoy, wasmPath } from './lib/envoy.mjs';
import { freePort } from './lib/ports.mjs';
import { REPO_ROOT } from './lib/procs.mjs';
import { CLIENT_ID, CLIENT_SECRET, SECRET, echoed, waitProvidersReady } from './lib/stack.mjs';
import { startEchoUpstream } from './lib/upstream.mjs';

const PLUGIN = YAML.parse(fs.readFileSync(path.join(REPO_ROOT, 'filter-config/istio/wasmplugin.yaml'), 'utf8'));
const HARDENING = YAML.parse(fs.readFileSync(path.join(REPO_ROOT, 'filter-config/istio/envoyfilter-hardening.yaml'), 'utf8'));
const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const WASM_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm';

/** What istiod sends for a WasmPlugin: a TypedExtensionConfig for ECDS. */
function ecdsResource(plugin, pluginConfigJson, wasmFile) {
  const name = `${plugin.metadata.namespace}.${plugin.metadata.name}`;
  const env = plugin.spec.vmConfig?.env ?? [];
  return {
    '@type': 'type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig',
    name,
    typed_config: {
      '@type': WASM_TYPE,
      config: {
        name,
        root_id: plugin.spec.pluginName,
        vm_config: {
          runtime: 'envoy.wasm.runtime.v8',
          vm_id: name,
          code: { local: { filename: wasmFile } },
          environment_variables: {
            host_env_keys: env.filter((e) => e.valueFrom === 'HOST').map((e) => e.name),
            key_values: Object.fromEntries(env.filter((e) => e.valueFrom !== 'HOST').map((e) => [e.name, e.value])),
          },
        },
        configuration: { '@type': 'type.googleapis.com/google.protobuf.StringValue', value: pluginConfigJson },
        fail_open: plugin.spec.failStrategy === 'FAIL_OPEN',
      },
    },
  };
}

/** Proto merge of a JSON message: fields of `patch` replace, messages merge, lists append. */
function protoMerge(target, patch) {
  for (const [k, v] of Object.entries(patch)) {
    if (Array.isArray(v)) target[k] = [...(target[k] ?? []), ...v];
    else if (v && typeof v === 'object' && target[k] && typeof target[k] === 'object') protoMerge(target[k], v);
    else target[k] = v;
  }
  return target;
}

/** The EnvoyFilter's MERGE patches of the HTTP connection manager, applied to a bootstrap (JSON text). */
function applyHcmPatches(configText, envoyFilter) {
  const config = JSON.parse(configText);
  let patched = 0;
  for (const p of envoyFilter.spec.configPatches) {
    assert.equal(p.applyTo, 'NETWORK_FILTER');
    assert.equal(p.patch.operation, 'MERGE');
    assert.equal(p.match.listener.filterChain.filter.name, 'envoy.filters.network.http_connection_manager');
    const { '@type': type, ...fields } = p.patch.value.typed_config;
    assert.equal(type, HCM_TYPE);
    for (const listener of config.static_resources.listeners) {
      for (const chain of listener.filter_chains) {
        for (const f of chain.filters) {
          if (f.name === 'envoy.filters.network.http_connection_manager') {
            protoMerge(f.typed_config, structuredClone(fields));
            patched++;
          }
        }
      }
    }
  }
  assert.ok(patched > 0, 'the patch found the HTTP connection manager');
  return JSON.stringify(config, null, 2);
}

describe('Istio delivery (ECDS, Istio cluster names, HTTPS provider)', () => {
  let op;
  let envoy;
  let upstream;
  let port;
  let certs;
  let ecdsDir;
  let ecdsFile;
  let pluginConfigJson;
  const url = (host, p = '/') => `http://${host}.example.test:${port}${p}`;

  before(async () => {
    assert.equal(PLUGIN.spec.phase, 'AUTHN');
    assert.equal(PLUGIN.kind, 'WasmPlugin');
    certs = makeServerCert('pocket-id.example.test');
    port = await freePort();
    const appUrl = `http://auth.example.test:${port}`;
    op = await startPocketId({
      port: 0,
      issuerHost: 'pocket-id.example.test',
      tls: { key: certs.key, cert: certs.cert },
      clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [`${appUrl}/api/oauth/callback/generic`] }],
    });
    assert.match(op.issuer, /^https:\/\/pocket-id\.example\.test:\d+$/);
    upstream = await startEchoUpstream();

    // The shipped pluginConfig, pointed at this test's hosts. JSON.stringify of
    // the parsed YAML is what istiod's protojson marshalling of the Struct gives.
    pluginConfigJson = JSON.stringify(PLUGIN.spec.pluginConfig)
      .replaceAll('https://tinyauth.example.com', appUrl)
      .replaceAll('https://pocket-id.example.com', op.issuer)
      .replaceAll('example.com', 'example.test');
    ecdsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tinyauth-ecds-'));
    ecdsFile = path.join(ecdsDir, 'tinyauth.ecds.json');
    const resource = ecdsResource(PLUGIN, pluginConfigJson, wasmPath());
    fs.writeFileSync(ecdsFile, JSON.stringify({ version_info: '1', resources: [resource] }, null, 2));

    const providerPort = new URL(op.issuer).port;
    const config = applyHcmPatches(buildEnvoyConfig({
      listenPort: port,
      wasm: false,
      preHttpFilters: [{
        name: resource.name,
        config_discovery: {
          config_source: { path_config_source: { path: ecdsFile }, resource_api_version: 'V3' },
          type_urls: [WASM_TYPE],
        },
      }],
      clusters: [
        { name: 'outbound|8080||whoami.default.svc.cluster.local', host: '127.0.0.1', port: upstream.port },
        // The cluster Istio builds from the ServiceEntry, TLS from the DestinationRule.
        {
          name: `outbound|${providerPort}||pocket-id.example.test`,
          host: '127.0.0.1',
          port: op.port,
          tls: { sni: 'pocket-id.example.test', caFile: certs.caFile },
        },
      ],
      upstreamCluster: 'outbound|8080||whoami.default.svc.cluster.local',
    }), HARDENING);
    envoy = await startEnvoy({
      config,
      name: 'istio-envoy',
      testName: 'istio-ecds',
      concurrency: 2,
      // Node identity as an Istio ingress gateway has it (needed for ECDS).
      extraArgs: [
        '--service-node', 'router~10.0.0.1~istio-ingressgateway-0.${PLUGIN.metadata.namespace}~${PLUGIN.metadata.namespace}.svc.cluster.local',
        '--service-cluster', `istio-ingressgateway.${PLUGIN.metadata.namespace}`,
      ],
      // vmConfig.env valueFrom: HOST — the gateway pod's environment.
      env: {
        ...process.env,
        TINYAUTH_OAUTH_PROVIDERS_GENERIC_CLIENTSECRET: CLIENT_SECRET,
        TINYAUTH_SECRET: SECRET,
      },
    });
    await waitProvidersReady(envoy, PLUGIN.spec.pluginConfig, 2);
  });

  after(async () => {
    await envoy?.stop();
    await op?.close();
    await upstream?.close();
    if (certs) fs.rmSync(certs.dir, { recursive: true, force: true });
    if (ecdsDir) fs.rmSync(ecdsDir, { recursive: true, force: true });
  });

  test('the filter came through ECDS and calls the Istio-named cluster over TLS', async () => {
    const logs = envoy.logs();
    assert.match(logs, /tinyauth-wasm \S+ configured for http:\/\/auth\.example\.test/);
    assert.match(logs, /provider generic: discovered issuer https:\/\/pocket-id\.example\.test:\d+/);
    const stats = await envoy.stats('cluster.outbound|');
    const handshakes = Object.entries(stats).find(([name]) => name.endsWith('||pocket-id.example.test.ssl.handshake'));
    assert.ok(handshakes && handshakes[1] > 0, 'TLS handshakes to the provider');
  });

  test('a full login works (autoRedirect straight to Pocket ID over HTTPS)', async () => {
    const b = new Browser({ ca: certs.ca });
    b.jar.set('standin_user', 'alice', { url: op.issuer });
    const r = await b.get(url('whoami', '/hello'));
    assert.equal(r.status, 200, r.body);
    assert.ok(r.chain.some((hop) => hop.url.startsWith(`${op.issuer}/authorize?`)), 'went straight to the provider');
    const h = echoed(r);
    assert.equal(h['remote-user'], 'alice');
    assert.equal(h['remote-groups'], 'admins,users');
    const token = op.requests.findLast((q) => q.endpoint === 'token');
    assert.equal(
      token.headers.authorization,
      `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`,
      'the client secret came from the host environment',
    );
  });

  test('rules from the shipped pluginConfig apply', async () => {
    const bob = new Browser({ ca: certs.ca });
    bob.jar.set('standin_user', 'bob', { url: op.issuer });
    const refused = await bob.get(url('whoami', '/'));
    assert.equal(refused.status, 403, 'whoami needs the admins group');
    const health = await apiClient().get(url('metrics', '/api/health'));
    assert.equal(health.status, 200, 'grafana (config.domain metrics.*) has a public health path');
    const closed = await apiClient().get(url('metrics', '/dashboards'));
    assert.equal(closed.status, 401);
  });

  test('the shipped hardening is in force: underscore headers refused, paths normalized before the filter and the app see them', async () => {
    const host = `metrics.example.test:${port}`;
    const underscore = await rawGet(port, host, '/api/health', { remote_user: 'alice' });
    assert.equal(underscore.status, 400, 'headers_with_underscores_action: REJECT_REQUEST');
    const escaped = await rawGet(port, host, '/api%2Fhealth');
    assert.equal(escaped.status, 307, 'path_with_escaped_slashes_action: UNESCAPE_AND_REDIRECT');
    assert.equal(escaped.headers.location, '/api/health');
    for (const p of ['/x/../api/health', '/api//health', '/api/./health', '//api///health']) {
      const r = await rawGet(port, host, p);
      assert.equal(r.status, 200, `${p}: normalize_path and merge_slashes give the public path`);
      assert.equal(JSON.parse(r.body).path, '/api/health', `${p} reaches the app as the filter saw it`);
    }
    const plain = await rawGet(port, host, '/api/health');
    assert.equal(plain.status, 200, 'a request without underscores passes');
  });
});

describe('Istio delivery: configuration updates through ECDS', () => {
  let op;
  let envoy;
  let upstream;
  let port;
  let certs;
  let ecdsDir;
  let ecdsFile;
  let pluginConfig;
  const url = (host, p = '/') => `http://${host}.example.test:${port}${p}`;
  const browser = (user) => {
    const b = new Browser({ ca: certs.ca });
    b.jar.set('standin_user', user, { url: op.issuer });
    return b;
  };
  /** Publishes a new ECDS resource version the way Envoy's file watch expects it: written aside, then moved in place. */
  const publish = (version, config) => {
    const text = typeof config === 'string' ? config : JSON.stringify(config);
    const resource = ecdsResource(PLUGIN, text, wasmPath());
    const tmp = path.join(ecdsDir, `.tinyauth.ecds.${version}.json`);
    fs.writeFileSync(tmp, JSON.stringify({ version_info: version, resources: [resource] }, null, 2));
    fs.renameSync(tmp, ecdsFile);
  };
  const ecdsStats = async () => {
    const stats = await envoy.stats('extension_config_discovery.');
    const pick = (suffix) => Object.entries(stats).find(([name]) => name.endsWith(`.istio-ingress.tinyauth.${suffix}`))?.[1] ?? 0;
    return { successes: pick('update_success'), rejected: pick('update_rejected'), fails: pick('config_fail') };
  };

  before(async () => {
    certs = makeServerCert('pocket-id.example.test');
    port = await freePort();
    const appUrl = `http://auth.example.test:${port}`;
    op = await startPocketId({
      port: 0,
      issuerHost: 'pocket-id.example.test',
      tls: { key: certs.key, cert: certs.cert },
      clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [`${appUrl}/api/oauth/callback/generic`] }],
    });
    upstream = await startEchoUpstream();
    pluginConfig = JSON.parse(
      JSON.stringify(PLUGIN.spec.pluginConfig)
        .replaceAll('https://tinyauth.example.com', appUrl)
        .replaceAll('https://pocket-id.example.com', op.issuer)
        .replaceAll('example.com', 'example.test'),
    );
    ecdsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tinyauth-ecds-update-'));
    ecdsFile = path.join(ecdsDir, 'tinyauth.ecds.json');
    publish('1', pluginConfig);
    const providerPort = new URL(op.issuer).port;
    const config = buildEnvoyConfig({
      listenPort: port,
      wasm: false,
      preHttpFilters: [{
        name: `${PLUGIN.metadata.namespace}.${PLUGIN.metadata.name}`,
        config_discovery: {
          config_source: { path_config_source: { path: ecdsFile }, resource_api_version: 'V3' },
          type_urls: [WASM_TYPE],
        },
      }],
      clusters: [
        { name: 'outbound|8080||whoami.default.svc.cluster.local', host: '127.0.0.1', port: upstream.port },
        {
          name: `outbound|${providerPort}||pocket-id.example.test`,
          host: '127.0.0.1',
          port: op.port,
          tls: { sni: 'pocket-id.example.test', caFile: certs.caFile },
        },
      ],
      upstreamCluster: 'outbound|8080||whoami.default.svc.cluster.local',
    });
    envoy = await startEnvoy({
      config,
      name: 'istio-envoy-updates',
      testName: 'istio-ecds-updates',
      concurrency: 2,
      extraArgs: [
        '--service-node', `router~10.0.0.1~istio-ingressgateway-0.${PLUGIN.metadata.namespace}~${PLUGIN.metadata.namespace}.svc.cluster.local`,
        '--service-cluster', `istio-ingressgateway.${PLUGIN.metadata.namespace}`,
      ],
      env: { ...process.env, TINYAUTH_OAUTH_PROVIDERS_GENERIC_CLIENTSECRET: CLIENT_SECRET, TINYAUTH_SECRET: SECRET },
    });
    await waitProvidersReady(envoy, PLUGIN.spec.pluginConfig, 2);
  });

  after(async () => {
    await envoy?.stop();
    await op?.close();
    await upstream?.close();
    if (certs) fs.rmSync(certs.dir, { recursive: true, force: true });
    if (ecdsDir) fs.rmSync(ecdsDir, { recursive: true, force: true });
  });

  test('an invalid pluginConfig is refused with the reason logged, and the previous configuration keeps serving', async () => {
    const alice = browser('alice');
    const first = await alice.get(url('whoami', '/before'));
    assert.equal(first.status, 200, first.body);
    const initial = await ecdsStats();
    assert.equal(initial.successes, 1, 'version 1 was loaded through ECDS');

    const mark = envoy.mark();
    const bad = structuredClone(pluginConfig);
    bad.apps.whoami.oauth.groups = '/(admins/';
    publish('2', bad);
    // The reason, from the filter; then Envoy refusing the update.
    await envoy.waitForLog(/\[critical\]\[wasm\].*invalid configuration: apps\.whoami\.oauth\.groups: invalid regex \/\(admins\/: unclosed group/, 15000, { since: mark });
    await envoy.waitForLog(/config update rejected: Unable to create Wasm plugin istio-ingress\.tinyauth/, 15000, { since: mark });
    const refused = await ecdsStats();
    assert.equal(refused.rejected, initial.rejected + 1, 'Envoy rejected the update');
    assert.equal(refused.fails, initial.fails + 1, 'and counts it as a failed configuration');
    assert.equal(refused.successes, initial.successes, 'nothing was applied');

    // Every worker still serves with version 1: the existing session, a new
    // login, and version 1's rules (whoami needs admins). Separate
    // connections, so both workers answer.
    for (let i = 0; i < 8; i++) {
      const again = await alice.get(url('whoami', `/after-${i}`));
      assert.equal(again.status, 200, `request ${i} with the session from before: ${again.body}`);
      assert.equal(echoed(again)['remote-user'], 'alice');
    }
    const fresh = await browser('alice').get(url('whoami', '/fresh'));
    assert.equal(fresh.status, 200, 'a new login works');
    assert.equal(echoed(fresh)['remote-groups'], 'admins,users');
    assert.equal((await browser('bob').get(url('whoami', '/'))).status, 403, "version 1's group rule still applies");
    assert.equal((await apiClient().get(url('metrics', '/api/health'))).status, 200);
    assert.equal((await apiClient().get(url('metrics', '/dashboards'))).status, 401);
    assert.doesNotMatch(envoy.proc.linesSince(mark).join('\n'), /panic|Wasm VM failed (?!Failed to configure base Wasm plugin)/);

    // A valid update after the refused one applies, and sessions signed
    // before it stay valid (the secret did not change).
    const good = structuredClone(pluginConfig);
    good.apps.whoami.oauth.groups = 'admins, users';
    const markGood = envoy.mark();
    publish('3', good);
    const deadline = Date.now() + 15000;
    while ((await ecdsStats()).successes === initial.successes) {
      assert.ok(Date.now() < deadline, `version 3 was not loaded:\n${envoy.tail(20)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // Each VM's new root context discovers the provider again.
    for (;;) {
      const threads = new Set(
        envoy.proc.linesSince(markGood).filter((l) => /provider generic: \d+ signing key\(s\) loaded/.test(l)).map((l) => /\]\[(\d+)\]\[/.exec(l)?.[1]),
      );
      if (threads.size >= 3) break;
      assert.ok(Date.now() < deadline, `version 3's VMs did not load the keys:\n${envoy.tail(20)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const bob = await browser('bob').get(url('whoami', '/'));
    assert.equal(bob.status, 200, `version 3 lets users in: ${bob.body}`);
    const kept = await alice.get(url('whoami', '/kept'));
    assert.equal(kept.status, 200, 'the session from version 1 is still valid');
    assert.equal(echoed(kept)['remote-user'], 'alice');
  });

  test('auth.revokedUsers and auth.sessionsNotBefore pushed through ECDS refuse sessions at once, on both workers', async () => {
    const base = structuredClone(pluginConfig);
    base.apps.whoami.oauth.groups = 'admins, users';
    base.ui = { title: 'Revocations' };
    const reached = () => upstream.requests.length;
    /**
     * Publishes `config`, then waits until Envoy has applied it and each VM
     * of the new version (main thread, two workers) has the provider's keys,
     * so a refused browser is sent to sign in rather than told to retry.
     */
    const apply = async (version, config) => {
      const before = (await ecdsStats()).successes;
      const mark = envoy.mark();
      publish(version, config);
      const deadline = Date.now() + 15000;
      while ((await ecdsStats()).successes === before) {
        assert.ok(Date.now() < deadline, `version ${version} was not applied:\n${envoy.tail(20)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      for (;;) {
        const threads = new Set(
          envoy.proc.linesSince(mark).filter((l) => /provider generic: \d+ signing key\(s\) loaded/.test(l)).map((l) => /\]\[(\d+)\]\[/.exec(l)?.[1]),
        );
        if (threads.size >= 3) break;
        assert.ok(Date.now() < deadline, `version ${version}'s VMs did not load the keys:\n${envoy.tail(20)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    /** The next eight requests of `b` (new connections, so both workers). */
    const statuses = async (b) => {
      const out = [];
      for (let i = 0; i < 8; i++) out.push((await b.get(url('whoami', `/r${i}`), { followRedirects: false })).status);
      return out;
    };

    await apply('4', base);
    const alice = browser('alice');
    const bob = browser('bob');
    for (const b of [alice, bob]) assert.equal((await b.get(url('whoami', '/'))).status, 200);
    // Later than both logins (whole seconds).
    await new Promise((r) => setTimeout(r, 1100));
    const cutoff = Math.floor(Date.now() / 1000);

    await apply('5', { ...base, auth: { ...base.auth, revokedUsers: { BOB: cutoff } } });
    const upstreamBefore = reached();
    assert.deepEqual(await statuses(bob), Array(8).fill(302), "bob's session is refused at once (sent to sign in)");
    assert.equal(reached(), upstreamBefore, 'none of them reached the app');
    assert.deepEqual(await statuses(alice), Array(8).fill(200), 'other users are not affected');

    await apply('6', { ...base, auth: { ...base.auth, sessionsNotBefore: new Date(cutoff * 1000).toISOString() } });
    assert.deepEqual(await statuses(alice), Array(8).fill(302), 'every session from before the time is refused');
    // Signing in again starts a new session, which the rules do not touch.
    const again = await browser('alice').get(url('whoami', '/again'));
    assert.equal(again.status, 200, again.body);
    assert.equal(echoed(again)['remote-user'], 'alice');
  });
});
