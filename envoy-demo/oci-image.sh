#!/usr/bin/env bash
# Packages the filter as an OCI image that Istio (WasmPlugin `url: oci://…`) and
# Envoy Gateway (EnvoyExtensionPolicy `wasm.code.image`) pull.
#
#   bash envoy-demo/oci-image.sh [WASM] [OUT_DIR]
#
# The image is the Wasm image specification's *compat* variant: standard OCI
# media types, one `application/vnd.oci.image.layer.v1.tar+gzip` layer holding
# `plugin.wasm`, and the manifest annotation `module.wasm.image/variant=compat`.
# Both fetchers (Istio's pkg/wasm/imagefetcher.go, and Envoy Gateway's copy of it
# in internal/wasm/imagefetcher.go) try this variant first; the other one they
# accept (the *oci* artifact variant) needs exactly two layers of custom media
# types, which some registries refuse. Standard media types also let any OCI
# tool (skopeo, oras, crane, docker) copy, mirror and scan the image.
#
# Writes OUT_DIR/tinyauth-wasm/ (an OCI image layout: oci-layout, index.json,
# blobs/sha256/…, tagged <version>) and OUT_DIR/tinyauth-wasm-<version>.oci.tar.
# Push it with, for example:
#   skopeo copy --preserve-digests oci:OUT_DIR/tinyauth-wasm:<version> docker://ghcr.io/you/tinyauth-wasm:<version>
#   oras cp --from-oci-layout OUT_DIR/tinyauth-wasm:<version> ghcr.io/you/tinyauth-wasm:<version>
#
# WasmPlugin.spec.sha256 (and EnvoyExtensionPolicy's image sha256): for an
# oci:// URL Istio compares it with the hex digest of the image *manifest*
# (`img.Digest().Hex`, no `sha256:` prefix; the CRD's pattern is ^[a-f0-9]{64}$),
# not with the module's. The script prints that value; a registry keeps it as
# long as the manifest is copied unchanged (skopeo: --preserve-digests).
#
# The build is reproducible: timestamps come from SOURCE_DATE_EPOCH, else the
# last commit; tar entries are sorted with fixed owner and mode; gzip stores no
# name or time.
set -euo pipefail
cd "$(dirname "$0")/.."

wasm=${1:-target/tinyauth_wasm.wasm}
out=${2:-target/oci}
if [ ! -f "$wasm" ]; then
  echo "no module at $wasm; build it first with: bash build.sh" >&2
  exit 1
fi
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
# Set by the release workflow (https://github.com/<owner>/<repo>): GHCR links
# the package to the repository through this annotation.
source_url=${OCI_SOURCE:-}

layout="$out/tinyauth-wasm"
rm -rf "$layout"
mkdir -p "$layout/blobs/sha256"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Stores stdin (or a file) as a blob; prints "digest size".
blob() {
  local tmp digest size
  tmp=$(mktemp)
  if [ $# -gt 0 ]; then cp "$1" "$tmp"; else cat >"$tmp"; fi
  digest=$(sha256sum "$tmp" | cut -d' ' -f1)
  size=$(stat -c %s "$tmp")
  mv "$tmp" "$layout/blobs/sha256/$digest"
  chmod 0644 "$layout/blobs/sha256/$digest"
  echo "$digest $size"
}

# The layer: a tar holding plugin.wasm (the name the compat variant requires),
# gzip-compressed. ustar headers carry no access or change times.
mkdir "$work/root"
cp "$wasm" "$work/root/plugin.wasm"
tar --format=ustar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner --mode=0644 \
  -C "$work/root" -cf "$work/layer.tar" plugin.wasm
gzip -9 -n -c "$work/layer.tar" >"$work/layer.tar.gz"
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
read -r layer_digest layer_size < <(blob "$work/layer.tar.gz")

# A valid OCI image configuration (rootfs.diff_ids lists the uncompressed
# layer), with Go's names for the platform of a WASI module.
read -r config_digest config_size < <(printf '{"created":"%s","author":"tinyauth-wasm","architecture":"wasm","os":"wasip1","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
  "$created" "$diff_id" | blob)

annotations=$(printf '"module.wasm.image/variant":"compat","org.opencontainers.image.created":"%s","org.opencontainers.image.version":"%s","org.opencontainers.image.title":"tinyauth-wasm","org.opencontainers.image.description":"Tinyauth login and access control as a proxy-wasm filter","org.opencontainers.image.licenses":"Apache-2.0"' \
  "$created" "$version")
[ -n "$source_url" ] && annotations+=$(printf ',"org.opencontainers.image.source":"%s"' "$source_url")
read -r manifest_digest manifest_size < <(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}],"annotations":{%s}}' \
  "$config_digest" "$config_size" "$layer_digest" "$layer_size" "$annotations" | blob)
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
  "$manifest_digest" "$manifest_size" "$version" >"$layout/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"

tarball="$out/tinyauth-wasm-$version.oci.tar"
tar --format=ustar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner -C "$layout" -cf "$tarball" .
echo "OCI image layout: $layout (tag $version, compat variant, manifest sha256:$manifest_digest)"
echo "OCI archive:      $tarball"
echo "WasmPlugin.spec.sha256 for oci:// URLs (the manifest digest): $manifest_digest"
echo "WasmPlugin.spec.sha256 for https:// URLs of the module itself: $(sha256sum "$wasm" | cut -d' ' -f1)"
