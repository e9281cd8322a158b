// The Istio files users apply as they are (filter-config/istio/): every
// object validates against the schema of its kind, vendored in
// tests/e2e/schemas/ (Istio 1.30.3's CRDs, Gateway API v1.5.1's Gateway, the
// Istio gateway chart's values schema), with unknown fields refused as
// `kubectl apply --validate=strict` refuses them; the CEL rules that concern
// these files are checked by hand; and the files agree with each other (one
// namespace, the secret names the WasmPlugins read are the ones the gateway
// pods get, the selector and targetRefs variants differ only in how they
// select). Running the filter as Istio delivers it: istio.test.mjs.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import Ajv from 'ajv';
import YAML from 'yaml';

import { SCHEMA_DIR, crdValidators, metadataErrors, yamlDocuments } from './lib/k8s-schema.mjs';
import { REPO_ROOT } from './lib/procs.mjs';

const ISTIO_DIR = path.join(REPO_ROOT, 'filter-config/istio');
const NAMESPACE = 'istio-ingress';
const check = crdValidators(['istio-1.30.3-crds.yaml', 'gateway-api-v1.5.1-gateways.yaml']);

/** Every Kubernetes object file under filter-config/istio/ (the Helm values file is not one). */
function objectFiles() {
  const out = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.yaml') && e.name !== 'gateway-values.yaml') out.push(p);
    }
  };
  walk(ISTIO_DIR);
  return out.sort();
}

const load = (rel) => yamlDocuments(path.join(ISTIO_DIR, rel));
const one = (rel) => {
  const docs = load(rel);
  assert.equal(docs.length, 1, `${rel} holds one object`);
  return docs[0];
};

/** The core/v1 kinds the files use, checked for the fields they may have. */
function coreErrors(obj) {
  const allowed = { Secret: ['type', 'stringData', 'data'], ConfigMap: ['data'] }[obj.kind];
  if (obj.apiVersion !== 'v1' || !allowed) return [`unexpected ${obj.apiVersion} ${obj.kind}`];
  const errors = metadataErrors(obj.metadata);
  for (const k of Object.keys(obj)) {
    if (!['apiVersion', 'kind', 'metadata', ...allowed].includes(k)) errors.push(`unknown field ${k}`);
  }
  for (const k of ['stringData', 'data']) {
    for (const [key, v] of Object.entries(obj[k] ?? {})) {
      if (!/^[-._a-zA-Z0-9]+$/.test(key)) errors.push(`${k}.${key}: not a valid key`);
      if (typeof v !== 'string') errors.push(`${k}.${key}: not a string`);
    }
  }
  return errors;
}

test('every object in filter-config/istio/ validates against its CRD schema (or core/v1)', () => {
  const files = objectFiles();
  const kinds = new Set();
  for (const file of files) {
    for (const obj of yamlDocuments(file)) {
      const errors = obj.apiVersion === 'v1' ? coreErrors(obj) : check(obj);
      assert.deepEqual(errors, [], `${path.relative(REPO_ROOT, file)}: ${obj.kind} ${obj.metadata?.name}`);
      assert.equal(obj.metadata.namespace, NAMESPACE, `${path.relative(REPO_ROOT, file)}: one namespace for the gateway and its config`);
      kinds.add(obj.kind);
    }
  }
  assert.deepEqual([...kinds].sort(), ['ConfigMap', 'DestinationRule', 'EnvoyFilter', 'Gateway', 'Secret', 'ServiceEntry', 'WasmPlugin']);
});

test('the schema check refuses what the API server refuses (so it can fail)', () => {
  const plugin = one('wasmplugin.yaml');
  const broken = [
    [{ ...plugin, spec: { ...plugin.spec, failStratgy: 'FAIL_CLOSE' } }, /must NOT have additional properties \(failStratgy\)/],
    [{ ...plugin, spec: { ...plugin.spec, sha256: `sha256:${'a'.repeat(64)}` } }, /spec\.sha256 must match pattern/],
    [{ ...plugin, spec: { ...plugin.spec, failStrategy: 'FAIL_CLOSED' } }, /spec\.failStrategy must be equal to one of the allowed values/],
    [{ ...plugin, apiVersion: 'extensions.istio.io/v1' }, /no served CRD version/],
    [{ ...plugin, metadata: { ...plugin.metadata, namespace: 'Istio_Ingress' } }, /metadata\.namespace/],
  ];
  for (const [obj, expected] of broken) assert.match(check(obj).join('\n'), expected);
  // pluginConfig is the filter's (x-kubernetes-preserve-unknown-fields): any keys pass here; schema.test.mjs holds it to the filter's schema.
  assert.deepEqual(check({ ...plugin, spec: { ...plugin.spec, pluginConfig: { anything: 1 } } }), []);
});

test("the gateway chart's values validate against the chart's schema", () => {
  const schema = JSON.parse(fs.readFileSync(path.join(SCHEMA_DIR, 'istio-1.30.3-gateway-values.schema.json'), 'utf8'));
  delete schema.$schema; // draft "schema#": ajv's default draft reads it
  const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
  const values = YAML.parse(fs.readFileSync(path.join(ISTIO_DIR, 'gateway-values.yaml'), 'utf8'));
  assert.ok(validate(values), JSON.stringify(validate.errors));
  assert.equal(validate({ ...values, envVarFrom: 'TINYAUTH_SECRET' }), false, 'the schema can fail');
});

test("CEL rules of the CRDs that concern these files hold", () => {
  for (const rel of ['wasmplugin.yaml', 'gateway-api/wasmplugin.yaml']) {
    const { spec } = one(rel);
    // WasmPlugin: only one of targetRefs or selector can be set.
    assert.equal(['selector', 'targetRef', 'targetRefs'].filter((k) => k in spec).length, 1, rel);
    // vmConfig.env: value may only be set when valueFrom is INLINE.
    for (const e of spec.vmConfig.env) assert.ok(e.valueFrom !== 'HOST' || !('value' in e), `${rel}: ${e.name}`);
    // url must have schema one of [http, https, file, oci].
    assert.match(spec.url, /^(oci|https?|file):\/\//, rel);
  }
  for (const rel of ['envoyfilter-hardening.yaml', 'gateway-api/envoyfilter-hardening.yaml']) {
    const { spec } = one(rel);
    // EnvoyFilter: only one of targetRefs or workloadSelector can be set; no cross-namespace targetRefs.
    assert.equal(['workloadSelector', 'targetRefs'].filter((k) => k in spec).length, 1, rel);
    for (const r of spec.targetRefs ?? []) assert.equal(r.namespace, undefined, rel);
  }
});

test('the selector and targetRefs variants differ only in how they select', () => {
  const without = (obj, ...keys) => ({ ...obj, spec: Object.fromEntries(Object.entries(obj.spec).filter(([k]) => !keys.includes(k))) });
  const gateway = one('gateway-api/gateway.yaml');
  const byRef = [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: gateway.metadata.name }];

  const plugin = one('wasmplugin.yaml');
  const pluginApi = one('gateway-api/wasmplugin.yaml');
  assert.deepEqual(without(pluginApi, 'targetRefs'), without(plugin, 'selector'));
  assert.deepEqual(pluginApi.spec.targetRefs, byRef);
  assert.deepEqual(plugin.spec.selector.matchLabels, { istio: 'ingressgateway' });

  const hardening = one('envoyfilter-hardening.yaml');
  const hardeningApi = one('gateway-api/envoyfilter-hardening.yaml');
  assert.deepEqual(without(hardeningApi, 'targetRefs'), without(hardening, 'workloadSelector'));
  assert.deepEqual(hardeningApi.spec.targetRefs, byRef);
  assert.deepEqual(hardening.spec.workloadSelector.labels, plugin.spec.selector.matchLabels);
  assert.deepEqual(one('gateway.yaml').spec.selector, plugin.spec.selector.matchLabels);
});

test('the secrets the WasmPlugin reads from the host are the ones both kinds of gateway get', () => {
  const secret = one('secret.yaml');
  const keys = Object.keys(secret.stringData).sort();
  const hostEnv = one('wasmplugin.yaml').spec.vmConfig.env.filter((e) => e.valueFrom === 'HOST').map((e) => e.name).sort();
  assert.deepEqual(hostEnv, keys);
  assert.equal(one('wasmplugin.yaml').spec.pluginConfig.secret, undefined, 'no secret in the pluginConfig');

  const fromSecret = (env) => env.map((e) => {
    assert.equal(e.valueFrom.secretKeyRef.name, secret.metadata.name);
    assert.equal(e.valueFrom.secretKeyRef.key, e.name);
    return e.name;
  }).sort();
  const values = YAML.parse(fs.readFileSync(path.join(ISTIO_DIR, 'gateway-values.yaml'), 'utf8'));
  assert.deepEqual(fromSecret(values.envVarFrom), keys);

  const options = one('gateway-api/gateway-options.yaml');
  const gateway = one('gateway-api/gateway.yaml');
  assert.deepEqual(gateway.spec.infrastructure.parametersRef, { group: '', kind: 'ConfigMap', name: options.metadata.name });
  const patch = YAML.parse(options.data.deployment);
  const [proxy] = patch.spec.template.spec.containers;
  assert.equal(proxy.name, 'istio-proxy', "the patch merges into Envoy's container");
  assert.deepEqual(fromSecret(proxy.env), keys);
});

test('Pocket ID is reachable the way the filter calls it: namespace-scoped, TLS originated on 443', () => {
  const se = one('serviceentry.yaml');
  const dr = one('destinationrule.yaml');
  const plugin = one('wasmplugin.yaml').spec.pluginConfig;
  const provider = plugin.oauth.providers.generic;
  const host = new URL(provider.authUrl).hostname;
  for (const url of [provider.authUrl, provider.tokenUrl, provider.userInfoUrl]) assert.equal(new URL(url).host, host, 'default port 443');
  assert.equal(provider.cluster, undefined, 'the filter uses the Istio cluster name outbound|443||host');
  assert.deepEqual(se.spec.hosts, [host]);
  assert.deepEqual(se.spec.exportTo, ['.']);
  assert.deepEqual(se.spec.ports, [{ number: 443, name: 'https', protocol: 'HTTPS' }]);
  assert.equal(dr.spec.host, host);
  assert.deepEqual(dr.spec.exportTo, ['.']);
  assert.deepEqual(dr.spec.trafficPolicy.portLevelSettings, [{ port: { number: 443 }, tls: { mode: 'SIMPLE', sni: host } }]);
});

test('the WasmPlugin fails closed and runs before Istio authentication', () => {
  for (const rel of ['wasmplugin.yaml', 'gateway-api/wasmplugin.yaml']) {
    const { spec } = one(rel);
    assert.equal(spec.failStrategy, 'FAIL_CLOSE', rel);
    assert.equal(spec.phase, 'AUTHN', rel);
  }
});
