// The compose setup for Tinyauth users (filter-config/compose/): compose.yaml
// against the Compose specification's JSON schema (vendored in
// tests/e2e/schemas/), the two files against each other, and a real login
// through the very envoy.yaml users copy. The test changes only what cannot be
// the same on this machine: listener and cluster addresses and ports, file
// paths (module, certificates) and host names (example.com → example.test,
// with the HTTPS port where a URL names a host), and it checks that nothing
// else changed. The filter's environment is compose.yaml's, interpolated
// from a test .env as `docker compose` would. Pocket ID is the stand-in,
// reached through Envoy as in compose (the filter is off for its host).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import Ajv from 'ajv';
import YAML from 'yaml';

import { startPocketId } from './pocket-id/standin.mjs';
import { makeServerCert } from './lib/certs.mjs';
import { Browser, apiClient, rawGet } from './lib/client.mjs';
import { startEnvoy, wasmPath } from './lib/envoy.mjs';
import { freePorts } from './lib/ports.mjs';
import { REPO_ROOT } from './lib/procs.mjs';
import { CLIENT_ID, CLIENT_SECRET, SECRET, echoed, waitProvidersReady } from './lib/stack.mjs';
import { startEchoUpstream } from './lib/upstream.mjs';
import { SCHEMA_DIR } from './lib/k8s-schema.mjs';

const DIR = path.join(REPO_ROOT, 'filter-config/compose');
const COMPOSE_TEXT = fs.readFileSync(path.join(DIR, 'compose.yaml'), 'utf8');
const COMPOSE = YAML.parse(COMPOSE_TEXT);
const ENVOY_CONFIG = YAML.parse(fs.readFileSync(path.join(DIR, 'envoy.yaml'), 'utf8'));
const ENVOY_VERSION = /TINYAUTH_ENVOY_VERSION="\$\{TINYAUTH_ENVOY_VERSION:-([0-9.]+)\}"/.exec(
  fs.readFileSync(path.join(REPO_ROOT, 'tests/setup.sh'), 'utf8'))[1];
const HCM = 'envoy.filters.network.http_connection_manager';

/** compose's list form `NAME=value` as a map. */
const envMap = (list) => Object.fromEntries(list.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));

/** Compose interpolation of ${VAR}, ${VAR:?err}, ${VAR:-default} from `vars` (every variable must be given). */
function interpolate(value, vars) {
  return value.replace(/\$\{([A-Z0-9_]+)(?::([?-])([^}]*))?\}/g, (_, name, op, arg) => {
    if (vars[name] !== undefined && vars[name] !== '') return vars[name];
    if (op === '-') return arg;
    throw new Error(`${name} is not set: ${arg ?? ''}`);
  });
}

/** Every HTTP connection manager in a bootstrap. */
function hcms(config) {
  return config.static_resources.listeners.flatMap((l) => l.filter_chains.flatMap((c) => c.filters))
    .filter((f) => f.name === HCM).map((f) => f.typed_config);
}

/** The wasm filter of the HTTPS listener. */
const wasmFilter = (config) => hcms(config).flatMap((h) => h.http_filters).find((f) => f.name === 'envoy.filters.http.wasm');

/** Paths of the leaves that differ between two JSON values. */
function changedPaths(a, b, at = '') {
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) => changedPaths(a[k], b[k], at ? `${at}.${k}` : k));
  }
  return a === b ? [] : [at];
}

// What the test may change, by path in the bootstrap.
const MAY_CHANGE = [
  /^admin\.address\.socket_address\.(address|port_value)$/,
  /^static_resources\.listeners\.\d+\.address\.socket_address\.(address|port_value)$/,
  /^static_resources\.clusters\.\d+\.load_assignment\.endpoints\.\d+\.lb_endpoints\.\d+\.endpoint\.address\.socket_address\.(address|port_value)$/,
  /\.tls_certificates\.\d+\.(certificate_chain|private_key)\.filename$/,
  /\.vm_config\.code\.local\.filename$/,
  /\.route_config\.virtual_hosts\.\d+\.domains\.\d+$/,
  /\.wasm\.config\.configuration\.value$|\.typed_config\.config\.configuration\.value$/,
];

describe('compose setup (filter-config/compose)', () => {
  test('compose.yaml validates against the Compose specification schema', () => {
    const schema = JSON.parse(fs.readFileSync(path.join(SCHEMA_DIR, 'compose-spec.json'), 'utf8'));
    delete schema.$schema; // draft-07, ajv's default; its https id is not one ajv knows by name
    const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
    assert.ok(validate(COMPOSE), JSON.stringify(validate.errors, null, 2));
    // The schema can fail: a misspelt key and a wrong type are refused.
    assert.equal(validate({ ...COMPOSE, services: { ...COMPOSE.services, envoy: { ...COMPOSE.services.envoy, enviroment: [] } } }), false);
    assert.equal(validate({ ...COMPOSE, services: { ...COMPOSE.services, envoy: { ...COMPOSE.services.envoy, ports: 443 } } }), false);
  });

  test('compose.yaml and envoy.yaml fit together', () => {
    const { envoy, 'pocket-id': pocketId } = COMPOSE.services;
    assert.equal(envoy.image, `envoyproxy/envoy:v${ENVOY_VERSION}`, 'the Envoy the tests run');
    assert.match(pocketId.image, /^ghcr\.io\/pocket-id\/pocket-id:v2$/);
    // The environment the filter reads is exactly the block compose sets.
    const env = envMap(envoy.environment);
    const vm = wasmFilter(ENVOY_CONFIG).typed_config.config.vm_config;
    assert.deepEqual([...vm.environment_variables.host_env_keys].sort(), Object.keys(env).sort());
    // The seed guide's names and a complete configuration without JSON secrets.
    for (const name of ['APP_URL', 'SECRET', 'GENERIC_CLIENT_ID', 'GENERIC_CLIENT_SECRET', 'GENERIC_AUTH_URL', 'GENERIC_TOKEN_URL', 'GENERIC_USER_URL', 'GENERIC_SCOPES', 'GENERIC_NAME']) {
      assert.ok(name in env, name);
    }
    for (const secret of ['SECRET', 'GENERIC_CLIENT_SECRET']) assert.match(env[secret], /^\$\{[A-Z_]+:\?/, `${secret} comes from .env`);
    const config = JSON.parse(wasmFilter(ENVOY_CONFIG).typed_config.config.configuration.value);
    assert.equal(config.secret, undefined);
    // Mounts: envoy.yaml, the module and the certificates where envoy.yaml reads them.
    const mounts = Object.fromEntries(envoy.volumes.map((v) => v.split(':')).map(([from, to]) => [to, from]));
    assert.equal(mounts['/etc/envoy/envoy.yaml'], './envoy.yaml');
    assert.equal(mounts[vm.code.local.filename], './tinyauth_wasm.wasm');
    const tls = ENVOY_CONFIG.static_resources.listeners[0].filter_chains[0].transport_socket.typed_config.common_tls_context.tls_certificates[0];
    for (const f of [tls.certificate_chain.filename, tls.private_key.filename]) assert.equal(path.dirname(f), '/etc/envoy/certs');
    assert.equal(mounts['/etc/envoy/certs'], './certs');
    // Each cluster is a compose service at the port it listens on.
    for (const c of ENVOY_CONFIG.static_resources.clusters) {
      const { address } = c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
      assert.ok(COMPOSE.services[address], `cluster ${c.name} points at service ${address}`);
    }
    // Published ports reach the two listeners.
    const listenerPorts = ENVOY_CONFIG.static_resources.listeners.map((l) => l.address.socket_address.port_value).sort();
    assert.deepEqual(envoy.ports.map((p) => Number(p.split(':')[1])).sort(), listenerPorts);
    // .env.example names every variable compose.yaml needs.
    const needed = [...COMPOSE_TEXT.matchAll(/\$\{([A-Z0-9_]+)/g)].map((m) => m[1]);
    const example = fs.readFileSync(path.join(DIR, '.env.example'), 'utf8');
    for (const name of new Set(needed)) assert.match(example, new RegExp(`^${name}=$`, 'm'), name);
  });

  test('every shipped Envoy configuration is hardened on every HTTP connection manager', () => {
    for (const file of ['envoy-demo/envoy.yaml', 'filter-config/compose/envoy.yaml']) {
      const config = YAML.parse(fs.readFileSync(path.join(REPO_ROOT, file), 'utf8'));
      const managers = hcms(config);
      assert.ok(managers.length > 0, file);
      for (const h of managers) {
        assert.equal(h.common_http_protocol_options?.headers_with_underscores_action, 'REJECT_REQUEST', file);
        assert.equal(h.normalize_path, true, file);
        assert.equal(h.merge_slashes, true, file);
        assert.equal(h.path_with_escaped_slashes_action, 'UNESCAPE_AND_REDIRECT', file);
        assert.equal(h.use_remote_address, true, file);
      }
    }
  });

  describe('a real login through the shipped envoy.yaml', () => {
    let certs;
    let op;
    let upstream;
    let envoy;
    let httpsPort;
    let httpPort;
    const url = (host, p = '/') => `https://${host}.example.test:${httpsPort}${p}`;
    const browser = (user) => {
      const b = new Browser({ ca: certs.ca });
      if (user) b.jar.set('standin_user', user, { url: op.issuer });
      return b;
    };

    before(async () => {
      [httpsPort, httpPort] = await freePorts(2);
      certs = makeServerCert('*.example.test');
      fs.writeFileSync(path.join(certs.dir, 'fullchain.pem'), certs.cert);
      fs.writeFileSync(path.join(certs.dir, 'privkey.pem'), certs.key);
      const publicUrl = (host) => `https://${host}.example.test:${httpsPort}`;
      // Pocket ID's APP_URL is its public URL through Envoy; Envoy reaches it over plain HTTP.
      op = await startPocketId({
        port: 0,
        issuer: publicUrl('pocket-id'),
        clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [`${publicUrl('tinyauth')}/api/oauth/callback/generic`] }],
      });
      upstream = await startEchoUpstream();

      // Host names: URLs get the test's HTTPS port, the rest only the test domain.
      const hosts = (s) => s
        .replace(/https:\/\/([a-z0-9-]+)\.example\.com/g, `https://$1.example.test:${httpsPort}`)
        .replaceAll('example.com', 'example.test');
      const config = structuredClone(ENVOY_CONFIG);
      config.admin.address.socket_address = { address: '127.0.0.1', port_value: 0 };
      const listenerPorts = { https: httpsPort, http: httpPort };
      for (const l of config.static_resources.listeners) l.address.socket_address = { address: '127.0.0.1', port_value: listenerPorts[l.name] };
      const upstreamPorts = { pocket_id: op.port, whoami: upstream.port, nginx: upstream.port };
      for (const c of config.static_resources.clusters) {
        c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address = { address: '127.0.0.1', port_value: upstreamPorts[c.name] };
      }
      const tls = config.static_resources.listeners[0].filter_chains[0].transport_socket.typed_config.common_tls_context.tls_certificates[0];
      tls.certificate_chain.filename = path.join(certs.dir, path.basename(tls.certificate_chain.filename));
      tls.private_key.filename = path.join(certs.dir, path.basename(tls.private_key.filename));
      for (const h of hcms(config)) {
        for (const vh of h.route_config.virtual_hosts) vh.domains = vh.domains.map(hosts);
      }
      const wasm = wasmFilter(config).typed_config.config;
      wasm.vm_config.code.local.filename = wasmPath();
      const filterConfig = JSON.parse(wasm.configuration.value);
      filterConfig.clusters = Object.fromEntries(Object.entries(filterConfig.clusters).map(([host, cluster]) => [new URL(hosts(`https://${host}`)).host, cluster]));
      wasm.configuration.value = JSON.stringify(filterConfig);

      // Nothing else changed; and the filter's JSON only in its cluster map's host names.
      const changed = changedPaths(ENVOY_CONFIG, config).filter((p) => !MAY_CHANGE.some((re) => re.test(p)));
      assert.deepEqual(changed, [], 'the test changed only addresses, ports, paths and host names');
      const original = JSON.parse(wasmFilter(ENVOY_CONFIG).typed_config.config.configuration.value);
      assert.deepEqual({ ...filterConfig, clusters: undefined }, { ...original, clusters: undefined });

      // compose.yaml's environment for Envoy, with a .env as the user writes it.
      const dotEnv = { TINYAUTH_SECRET: SECRET, POCKET_ID_CLIENT_ID: CLIENT_ID, POCKET_ID_CLIENT_SECRET: CLIENT_SECRET };
      const env = Object.fromEntries(Object.entries(envMap(COMPOSE.services.envoy.environment)).map(([k, v]) => [k, hosts(interpolate(v, dotEnv))]));
      envoy = await startEnvoy({ config: JSON.stringify(config, null, 2), name: 'compose-envoy', testName: 'compose', concurrency: 2, env: { ...process.env, ...env } });
      await waitProvidersReady(envoy, ['generic'], 2);
    });

    after(async () => {
      await envoy?.stop();
      await op?.close();
      await upstream?.close();
      if (certs) fs.rmSync(certs.dir, { recursive: true, force: true });
    });

    test('alice signs in through Pocket ID (behind the same Envoy) and reaches both apps', async () => {
      const alice = browser('alice');
      const r = await alice.get(url('whoami', '/hello'));
      assert.equal(r.status, 200, r.body);
      assert.ok(r.chain.some((hop) => hop.url.startsWith(`${op.issuer}/authorize?`)), 'OAUTH_AUTO_REDIRECT=generic: straight to Pocket ID');
      assert.equal(echoed(r)['remote-user'], 'alice');
      assert.equal(echoed(r)['remote-groups'], 'admins,users');
      const admin = await alice.get(url('nginx'));
      assert.equal(admin.status, 200, 'alice is in admins');
      const token = op.requests.findLast((q) => q.endpoint === 'token');
      assert.equal(token.headers.authorization, `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`, 'the client secret came from .env');
    });

    test("the apps' rules and the whitelist apply", async () => {
      const bob = browser('bob');
      assert.equal((await bob.get(url('whoami'))).status, 200);
      assert.equal((await bob.get(url('nginx'))).status, 403, 'nginx needs the admins group');
      const carol = await browser('carol').get(url('whoami'));
      assert.equal(carol.status, 403, 'OAUTH_WHITELIST refuses carol');
      const api = await apiClient({ ca: certs.ca }).get(url('whoami'));
      assert.equal(api.status, 401, 'no session, no app');
    });

    test('Pocket ID is not behind the filter; plain HTTP redirects; the hardening is in force', async () => {
      const discovery = await apiClient({ ca: certs.ca }).get(url('pocket-id', '/.well-known/openid-configuration'));
      assert.equal(discovery.status, 200);
      assert.equal(JSON.parse(discovery.body).issuer, op.issuer);
      const plain = await rawGet(httpPort, `whoami.example.test:${httpPort}`, '/x');
      assert.equal(plain.status, 301);
      assert.match(plain.headers.location, /^https:\/\/whoami\.example\.test(:\d+)?\/x$/);
      const underscore = await rawGet(httpPort, `whoami.example.test:${httpPort}`, '/', { remote_user: 'alice' });
      assert.equal(underscore.status, 400);
    });
  });
});
