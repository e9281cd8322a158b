// The OCI image of envoy-demo/oci-image.sh as Istio and Envoy Gateway pull it:
// the layout and its reproducibility; a round trip through a real registry
// (Debian's docker-registry on loopback; skopeo pushes it and pulls it back by
// digest), read back the way Istio's fetcher reads it; the value printed for
// WasmPlugin.spec.sha256 is the one Istio compares; and the image layout this
// script made before (one raw module layer) is refused by the same reading.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { after, before, describe, test } from 'node:test';

import YAML from 'yaml';

import { wasmPath } from './lib/envoy.mjs';
import { REPO_ROOT } from './lib/procs.mjs';
import { skopeo, startRegistry } from './lib/registry.mjs';
import { MEDIA, istioExtract, isValidWasmBinary, readLayout, registryClient, sha256Hex, tarEntries } from './lib/wasm-image.mjs';

const EPOCH = '1800000000';
const VERSION = /^version = "(.*)"$/m.exec(fs.readFileSync(path.join(REPO_ROOT, 'Cargo.toml'), 'utf8'))[1];

/** Runs oci-image.sh into `out`; returns what it printed. */
function buildImage(out, env = {}) {
  return execFileSync('bash', [path.join(REPO_ROOT, 'envoy-demo/oci-image.sh'), wasmPath(), out], {
    env: { ...process.env, SOURCE_DATE_EPOCH: EPOCH, ...env },
    encoding: 'utf8',
  });
}

/** The value the script prints for WasmPlugin.spec.sha256 (oci:// URLs). */
const printedSha256 = (stdout) => /^WasmPlugin\.spec\.sha256 for oci:\/\/ URLs \(the manifest digest\): (\S+)$/m.exec(stdout)?.[1];

describe('the OCI image (envoy-demo/oci-image.sh)', () => {
  let out;
  let stdout;
  let layout;
  before(() => {
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'tinyauth-oci-'));
    stdout = buildImage(out);
    layout = readLayout(path.join(out, 'tinyauth-wasm'), VERSION);
  });
  after(() => fs.rmSync(out, { recursive: true, force: true }));

  test('is the compat variant: one tar+gzip layer holding plugin.wasm, the annotation, a valid image config', async () => {
    const dir = path.join(out, 'tinyauth-wasm');
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
    assert.equal(layout.index.mediaType, MEDIA.ociIndex);
    assert.equal(layout.entry.mediaType, MEDIA.ociManifest);
    const { manifest, blob } = layout;
    assert.equal(manifest.schemaVersion, 2);
    assert.equal(manifest.mediaType, MEDIA.ociManifest);
    assert.equal(manifest.annotations['module.wasm.image/variant'], 'compat');
    assert.equal(manifest.annotations['org.opencontainers.image.version'], VERSION);
    assert.equal(manifest.annotations['org.opencontainers.image.created'], '2027-01-15T08:00:00Z');
    assert.equal(manifest.layers.length, 1);
    const [layer] = manifest.layers;
    assert.equal(layer.mediaType, MEDIA.ociLayerGzip);
    const layerBytes = blob(layer.digest);
    assert.equal(layerBytes.length, layer.size);
    const entries = tarEntries(zlib.gunzipSync(layerBytes));
    assert.deepEqual(entries.map((e) => [e.name, e.type, e.mode.trim(), e.mtime]), [['plugin.wasm', '0', '0000644', Number(EPOCH)]]);
    assert.deepEqual(entries[0].data, fs.readFileSync(wasmPath()), 'plugin.wasm is the built module, byte for byte');

    assert.equal(manifest.config.mediaType, MEDIA.ociConfig);
    const configBytes = blob(manifest.config.digest);
    assert.equal(configBytes.length, manifest.config.size);
    const config = JSON.parse(configBytes);
    assert.equal(config.created, '2027-01-15T08:00:00Z');
    assert.deepEqual([config.os, config.architecture], ['wasip1', 'wasm']);
    const tar = zlib.gunzipSync(layerBytes);
    assert.deepEqual(config.rootfs, { type: 'layers', diff_ids: [`sha256:${sha256Hex(tar)}`] });

    const extracted = await istioExtract(manifest, blob);
    assert.equal(extracted.variant, 'compat');
    assert.ok(isValidWasmBinary(extracted.module));
  });

  test('prints the manifest digest for WasmPlugin.spec.sha256, in the form the CRD accepts', () => {
    const printed = printedSha256(stdout);
    assert.equal(printed, layout.entry.digest.slice('sha256:'.length), stdout);
    // The WasmPlugin CRD (Istio 1.30.3, vendored in tests/e2e/schemas/) allows only this.
    const crd = YAML.parseAllDocuments(fs.readFileSync(path.join(REPO_ROOT, 'tests/e2e/schemas/istio-1.30.3-crds.yaml'), 'utf8'))
      .map((d) => d.toJS())
      .find((d) => d?.spec?.names?.kind === 'WasmPlugin');
    const pattern = crd.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.sha256.pattern;
    assert.match(printed, new RegExp(pattern));
    assert.match(stdout, new RegExp(`for https:// URLs of the module itself: ${sha256Hex(fs.readFileSync(wasmPath()))}$`, 'm'));
  });

  test('is reproducible: the same inputs give the same archive and the same digest', () => {
    const tarball = path.join(out, `tinyauth-wasm-${VERSION}.oci.tar`);
    const first = sha256Hex(fs.readFileSync(tarball));
    const again = buildImage(out);
    assert.equal(printedSha256(again), printedSha256(stdout));
    assert.equal(sha256Hex(fs.readFileSync(tarball)), first);
    const listing = execFileSync('tar', ['-tf', tarball], { encoding: 'utf8' });
    for (const name of ['./oci-layout', './index.json', `./${path.posix.join('blobs/sha256', layout.entry.digest.slice(7))}`]) {
      assert.ok(listing.includes(name), name);
    }
  });

  test('round trip through a real registry: pushed with skopeo, pulled back by digest, read as Istio reads it', async (t) => {
    const registry = await startRegistry({ testName: 'oci-registry' });
    t.after(() => registry.stop());
    const repo = 'tinyauth/tinyauth-wasm';
    await skopeo('copy', '--preserve-digests', '--dest-tls-verify=false',
      `oci:${path.join(out, 'tinyauth-wasm')}:${VERSION}`, `docker://${registry.host}/${repo}:${VERSION}`);

    // What Istio does with `url: oci://<registry>/<repo>:<tag>`: resolve the
    // tag, compare the manifest digest with spec.sha256, then read the layers.
    const client = registryClient(registry.host);
    const tagged = await client.manifest(repo, VERSION);
    assert.equal(tagged.digest.slice('sha256:'.length), printedSha256(stdout), 'spec.sha256 as printed matches what Istio computes');
    assert.equal(tagged.mediaType, MEDIA.ociManifest);

    // By digest (url: oci://…@sha256:…), as a pinned WasmPlugin pulls it.
    const pinned = await client.manifest(repo, tagged.digest);
    assert.deepEqual(pinned.bytes, layout.manifestBytes, 'the registry serves our manifest unchanged');
    const { variant, module } = await istioExtract(pinned.manifest, (d) => client.blob(repo, d));
    assert.equal(variant, 'compat');
    assert.ok(isValidWasmBinary(module));
    assert.deepEqual(module, fs.readFileSync(wasmPath()), 'the module Istio would hand to Envoy is the built one');

    // And with a real client: skopeo pulls it by digest into a new layout.
    const pulled = fs.mkdtempSync(path.join(os.tmpdir(), 'tinyauth-pulled-'));
    t.after(() => fs.rmSync(pulled, { recursive: true, force: true }));
    await skopeo('copy', '--preserve-digests', '--src-tls-verify=false',
      `docker://${registry.host}/${repo}@${tagged.digest}`, `oci:${pulled}:pulled`);
    const back = readLayout(pulled, 'pulled');
    assert.equal(back.entry.digest, tagged.digest);
    assert.deepEqual((await istioExtract(back.manifest, back.blob)).module, fs.readFileSync(wasmPath()));
  });
});

test("the earlier image (one raw module layer) is refused by Istio's reading, so this check can fail", async () => {
  const module = fs.readFileSync(wasmPath());
  const blobs = new Map([[`sha256:${sha256Hex(module)}`, module]]);
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    config: { mediaType: MEDIA.wasmConfig, digest: 'sha256:' + '0'.repeat(64), size: 2 },
    layers: [{ mediaType: MEDIA.wasmLayer, digest: `sha256:${sha256Hex(module)}`, size: module.length }],
  };
  await assert.rejects(istioExtract(manifest, (d) => blobs.get(d)), (e) =>
    /compat variant: invalid media type application\/vnd\.module\.wasm\.content\.layer\.v1\+wasm/.test(e.message) &&
    /oci variant: number of layers must be 2 but got 1/.test(e.message));
});
