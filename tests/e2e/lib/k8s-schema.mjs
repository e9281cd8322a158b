// Validates Kubernetes objects against the OpenAPI v3 schemas of their CRDs
// (vendored in tests/e2e/schemas/), the way the API server's schema check
// does with strict field validation (`kubectl apply --validate=strict`):
// unknown fields are errors except where the schema preserves them
// (x-kubernetes-preserve-unknown-fields, e.g. a WasmPlugin's pluginConfig).
// CEL rules (x-kubernetes-validations) are not evaluated here; the tests check
// the ones that concern the shipped files by hand.

import fs from 'node:fs';
import path from 'node:path';

import Ajv from 'ajv';
import YAML from 'yaml';

import { E2E_DIR } from './procs.mjs';

export const SCHEMA_DIR = path.join(E2E_DIR, 'schemas');

/** Every document of a YAML file (comments and empty documents dropped). */
export function yamlDocuments(file) {
  return YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'))
    .map((d) => {
      if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`);
      return d.toJS();
    })
    .filter((d) => d != null);
}

/** A copy of an OpenAPI schema in which objects refuse fields they do not declare. */
function strict(schema) {
  if (Array.isArray(schema)) return schema.map(strict);
  if (!schema || typeof schema !== 'object') return schema;
  const out = {};
  for (const [k, v] of Object.entries(schema)) {
    // `properties` maps field names to schemas: recurse into each, not into the map as a schema.
    out[k] = k === 'properties' ? Object.fromEntries(Object.entries(v).map(([f, s]) => [f, strict(s)])) : strict(v);
  }
  if (schema.type === 'object' && schema.properties && schema.additionalProperties === undefined &&
      !schema['x-kubernetes-preserve-unknown-fields']) {
    out.additionalProperties = false;
  }
  return out;
}

/**
 * Validators for the CRDs in the given files, by `apiVersion` and `kind`
 * (served versions only).
 * @param {string[]} crdFiles  names in tests/e2e/schemas/
 */
export function crdValidators(crdFiles) {
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
  const byKey = new Map();
  for (const file of crdFiles) {
    for (const crd of yamlDocuments(path.join(SCHEMA_DIR, file))) {
      if (crd.kind !== 'CustomResourceDefinition') continue;
      for (const v of crd.spec.versions) {
        if (!v.served) continue;
        const { spec } = v.schema.openAPIV3Schema.properties;
        byKey.set(`${crd.spec.group}/${v.name} ${crd.spec.names.kind}`, { validate: ajv.compile(strict(spec)), scope: crd.spec.scope });
      }
    }
  }
  /**
   * Errors of one object (an empty array when it is valid).
   * @param {any} obj @returns {string[]}
   */
  return function check(obj) {
    const entry = byKey.get(`${obj.apiVersion} ${obj.kind}`);
    if (!entry) return [`no served CRD version for apiVersion ${obj.apiVersion} kind ${obj.kind}`];
    const errors = [];
    const extra = Object.keys(obj).filter((k) => !['apiVersion', 'kind', 'metadata', 'spec'].includes(k));
    if (extra.length) errors.push(`unknown top-level fields ${extra.join(', ')}`);
    errors.push(...metadataErrors(obj.metadata, entry.scope === 'Namespaced'));
    if (!entry.validate(obj.spec ?? {})) {
      errors.push(...entry.validate.errors.map((e) => `spec${e.instancePath.replaceAll('/', '.')} ${e.message}${e.params?.additionalProperty ? ` (${e.params.additionalProperty})` : ''}`));
    }
    return errors;
  };
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** What the API server checks of metadata for the shipped files: names, namespace. */
export function metadataErrors(meta, namespaced = true) {
  const errors = [];
  if (!meta || typeof meta !== 'object') return ['metadata is missing'];
  if (typeof meta.name !== 'string' || meta.name.length > 253 || !DNS_SUBDOMAIN.test(meta.name)) errors.push(`metadata.name ${meta.name} is not a DNS subdomain`);
  if (namespaced && (typeof meta.namespace !== 'string' || meta.namespace.length > 63 || !DNS_LABEL.test(meta.namespace))) {
    errors.push(`metadata.namespace ${meta.namespace} is not a DNS label`);
  }
  return errors;
}
