// filter-config/ against its JSON Schema: every example validates, the schema
// rejects what it should, and the configuration reference (docs/configuration.md,
// which the README links) names every key the schema defines (so the two cannot
// drift apart).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import Ajv2020 from 'ajv/dist/2020.js';
import YAML from 'yaml';

import { REPO_ROOT } from './lib/procs.mjs';

const CONFIG_DIR = path.join(REPO_ROOT, 'filter-config');
const schema = JSON.parse(fs.readFileSync(path.join(CONFIG_DIR, 'schema.json'), 'utf8'));
const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false, strictRequired: false, allowUnionTypes: true });
const validate = ajv.compile(schema);

function examples() {
  return fs
    .readdirSync(CONFIG_DIR)
    .filter((name) => name.endsWith('.json') && name !== 'schema.json')
    .map((name) => [name, JSON.parse(fs.readFileSync(path.join(CONFIG_DIR, name), 'utf8'))]);
}

test('every example in filter-config/ validates against the schema', () => {
  const all = examples();
  assert.ok(all.length >= 3);
  for (const [name, config] of all) {
    assert.ok(validate(config), `${name}: ${ajv.errorsText(validate.errors)}`);
  }
});

test("the Istio WasmPlugin's pluginConfig validates against the schema", () => {
  const plugin = YAML.parse(fs.readFileSync(path.join(CONFIG_DIR, 'istio/wasmplugin.yaml'), 'utf8'));
  assert.equal(plugin.spec.phase, 'AUTHN');
  assert.ok(validate(plugin.spec.pluginConfig), ajv.errorsText(validate.errors));
  assert.equal(plugin.spec.pluginConfig.secret, undefined, 'secrets come from vmConfig.env, not the pluginConfig');
  const envNames = plugin.spec.vmConfig.env.map((e) => e.name);
  assert.deepEqual(envNames.sort(), ['TINYAUTH_OAUTH_PROVIDERS_GENERIC_CLIENTSECRET', 'TINYAUTH_SECRET']);
});

test('the schema refuses unknown keys, wrong types and missing required keys', () => {
  const [, base] = examples().find(([name]) => name === 'minimal.json');
  const broken = [
    { ...base, colour: 'blue' },
    { ...base, auth: { sessionExpiry: -1 } },
    { ...base, auth: { acls: { policy: 'maybe' } } },
    { ...base, secret: 'short' },
    { ...base, oauth: { providers: { local: base.oauth.providers.generic } } },
    { ...base, oauth: { providers: { generic: { ...base.oauth.providers.generic, tokenAuthMethod: 'jwt' } } } },
    { ...base, appUrl: 5 },
  ];
  for (const config of broken) assert.equal(validate(config), false, JSON.stringify(config));
});

/** Every property path in the schema: `auth.sessionExpiry`, `apps.<app>.oauth.groups`, ... */
function schemaPaths(node, prefix, out, seen = new Set()) {
  if (node.$ref) {
    const target = node.$ref.replace('#/$defs/', '');
    if (seen.has(target + prefix)) return out;
    return schemaPaths(schema.$defs[target], prefix, out, new Set([...seen, target + prefix]));
  }
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const p = prefix ? `${prefix}.${key}` : key;
    out.add(p);
    schemaPaths(child, p, out, seen);
  }
  if (node.additionalProperties && typeof node.additionalProperties === 'object') {
    const placeholder = prefix === 'oauth.providers' ? '<id>' : prefix === 'apps' ? '<app>' : null;
    if (placeholder) schemaPaths(node.additionalProperties, `${prefix}.${placeholder}`, out, seen);
  }
  return out;
}

test('the configuration reference (docs/configuration.md) names every schema key', () => {
  const reference = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'configuration.md'), 'utf8');
  const keys = [...schemaPaths(schema, '', new Set())];
  assert.ok(keys.length > 50, `the schema walk found only ${keys.length} keys`);
  const missing = keys.filter((p) => !reference.includes('`' + p + '`'));
  assert.deepEqual(missing, [], 'add these keys to docs/configuration.md');
  const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  assert.ok(readme.includes('](docs/configuration.md)'), 'the README links the configuration reference');
});
