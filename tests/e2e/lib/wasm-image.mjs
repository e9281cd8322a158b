// Wasm OCI images the way Istio's and Envoy Gateway's fetchers read them
// (istio/istio pkg/wasm/imagefetcher.go `PrepareFetch`; Envoy Gateway's
// internal/wasm/imagefetcher.go is a copy): the manifest digest is what
// WasmPlugin.spec.sha256 is compared with, and the module is taken from
//   1. a Docker manifest (schema 2): the last layer, docker tar.gzip, plugin.wasm;
//   2. else the *compat* variant: the last layer is
//      application/vnd.oci.image.layer.v1.tar+gzip holding plugin.wasm;
//   3. else the *oci* variant: exactly two layers, one of them
//      application/vnd.module.wasm.content.layer.v1+wasm (the raw module).
// Written from reading that code, so the tests can hold our image to it; a
// registry client speaking the distribution API (manifests and blobs by digest,
// digests checked) lives here too.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

export const MEDIA = Object.freeze({
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  wasmConfig: 'application/vnd.module.wasm.config.v1+json',
  wasmLayer: 'application/vnd.module.wasm.content.layer.v1+wasm',
});

export const sha256Hex = (bytes) => crypto.createHash('sha256').update(bytes).digest('hex');

/**
 * The entries of an (uncompressed) tar archive: ustar and GNU headers; pax
 * extended headers are skipped. Enough for the layers we build and check.
 * @param {Buffer} tar @returns {{name: string, type: string, data: Buffer}[]}
 */
export function tarEntries(tar) {
  const out = [];
  const field = (h, at, len) => h.subarray(at, at + len).toString('latin1').replace(/\0.*$/s, '');
  for (let off = 0; off + 512 <= tar.length; ) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const size = parseInt(field(h, 124, 12).trim() || '0', 8);
    const prefix = field(h, 257, 6).startsWith('ustar') ? field(h, 345, 155) : '';
    const name = prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100);
    const type = field(h, 156, 1) || '0';
    const data = tar.subarray(off + 512, off + 512 + size);
    if (type !== 'x' && type !== 'g') out.push({ name, type, data, mode: field(h, 100, 8), mtime: parseInt(field(h, 136, 12).trim(), 8) });
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

/** plugin.wasm from a tar+gzip layer, matched by base name as Istio does. */
function pluginFromTarGz(bytes) {
  const entry = tarEntries(zlib.gunzipSync(bytes)).find((e) => path.posix.basename(e.name) === 'plugin.wasm');
  if (!entry) throw new Error('plugin.wasm not found in the archive');
  return entry.data;
}

/**
 * Istio's binary extraction for a fetched image.
 * @param {object} manifest  the parsed image manifest
 * @param {(digest: string) => Promise<Buffer>|Buffer} blob  reads a blob by digest
 * @returns {Promise<{variant: 'docker'|'compat'|'oci', module: Buffer}>}
 */
export async function istioExtract(manifest, blob) {
  const layers = manifest.layers ?? [];
  if (manifest.mediaType === MEDIA.dockerManifest) {
    const last = layers.at(-1);
    if (!last) throw new Error('number of layers must be greater than zero');
    if (last.mediaType !== MEDIA.dockerLayer) throw new Error(`invalid media type ${last.mediaType} (expect ${MEDIA.dockerLayer})`);
    return { variant: 'docker', module: pluginFromTarGz(await blob(last.digest)) };
  }
  let compatError;
  try {
    const last = layers.at(-1);
    if (!last) throw new Error('number of layers must be greater than zero');
    if (last.mediaType !== MEDIA.ociLayerGzip) throw new Error(`invalid media type ${last.mediaType} (expect ${MEDIA.ociLayerGzip})`);
    return { variant: 'compat', module: pluginFromTarGz(await blob(last.digest)) };
  } catch (e) {
    compatError = e;
  }
  let ociError;
  try {
    if (layers.length !== 2) throw new Error(`number of layers must be 2 but got ${layers.length}`);
    const layer = layers.find((l) => l.mediaType === MEDIA.wasmLayer);
    if (!layer) throw new Error(`could not find the layer of type ${MEDIA.wasmLayer}`);
    return { variant: 'oci', module: await blob(layer.digest) };
  } catch (e) {
    ociError = e;
  }
  throw new Error(`the given image is in invalid format as an OCI image: could not parse as compat variant: ${compatError.message}; could not parse as oci variant: ${ociError.message}`);
}

/** Istio's last check before it hands the file to Envoy (cache.go isValidWasmBinary). */
export function isValidWasmBinary(bytes) {
  return bytes.length >= 8 && bytes.subarray(0, 4).equals(Buffer.from([0, 0x61, 0x73, 0x6d]));
}

/**
 * An OCI image layout on disk (oci-layout, index.json, blobs/): the manifest
 * tagged `tag` and a blob reader that checks every digest.
 * @param {string} dir @param {string} tag
 */
export function readLayout(dir, tag) {
  const blob = (digest) => {
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new Error(`bad digest ${digest}`);
    const bytes = fs.readFileSync(path.join(dir, 'blobs/sha256', digest.slice(7)));
    if (`sha256:${sha256Hex(bytes)}` !== digest) throw new Error(`blob ${digest} does not match its digest`);
    return bytes;
  };
  const index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8'));
  const entry = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (!entry) throw new Error(`no manifest tagged ${tag} in ${dir}/index.json`);
  const manifestBytes = blob(entry.digest);
  if (manifestBytes.length !== entry.size) throw new Error('the index gives the manifest another size');
  return { index, entry, manifestBytes, manifest: JSON.parse(manifestBytes), blob };
}

// The media types go-containerregistry's remote.Get asks for.
const MANIFEST_ACCEPT = [MEDIA.ociManifest, MEDIA.ociIndex, MEDIA.dockerManifest, MEDIA.dockerManifestList].join(', ');

/**
 * A read-only client of an OCI distribution registry over plain HTTP (a
 * registry on loopback), checking every digest as go-containerregistry does.
 * @param {string} registry  host:port
 */
export function registryClient(registry) {
  const get = async (url, accept) => {
    const r = await fetch(`http://${registry}${url}`, { headers: accept ? { accept } : {} });
    if (!r.ok) throw new Error(`GET ${url}: ${r.status} ${await r.text()}`);
    return { headers: r.headers, bytes: Buffer.from(await r.arrayBuffer()) };
  };
  return {
    /** The manifest for a tag or digest, with the digest the registry reports (and we recompute). */
    async manifest(repo, ref) {
      const { headers, bytes } = await get(`/v2/${repo}/manifests/${ref}`, MANIFEST_ACCEPT);
      const digest = `sha256:${sha256Hex(bytes)}`;
      const reported = headers.get('docker-content-digest');
      if (reported && reported !== digest) throw new Error(`registry reports ${reported} for a manifest whose digest is ${digest}`);
      if (ref.startsWith('sha256:') && ref !== digest) throw new Error(`asked for ${ref}, got ${digest}`);
      return { digest, bytes, mediaType: headers.get('content-type'), manifest: JSON.parse(bytes) };
    },
    /** A blob by digest, checked. */
    async blob(repo, digest) {
      const { bytes } = await get(`/v2/${repo}/blobs/${digest}`);
      if (`sha256:${sha256Hex(bytes)}` !== digest) throw new Error(`blob ${digest} does not match its digest`);
      return bytes;
    },
  };
}
