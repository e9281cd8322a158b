#!/usr/bin/env bash
# Packages the filter as an OCI image in the layout Istio pulls with
# `url: oci://…` (the Wasm OCI artifact format: one layer of media type
# application/vnd.module.wasm.content.layer.v1+wasm holding the module).
#
#   bash envoy-demo/oci-image.sh [WASM] [OUT_DIR]
#
# Writes OUT_DIR/tinyauth-wasm/ (an OCI image layout: oci-layout, index.json,
# blobs/sha256/…) and OUT_DIR/tinyauth-wasm-<version>.oci.tar. Push it with, for
# example:
#   skopeo copy oci:OUT_DIR/tinyauth-wasm:<version> docker://ghcr.io/you/tinyauth-wasm:<version>
#   oras copy --from-oci-layout OUT_DIR/tinyauth-wasm:<version> ghcr.io/you/tinyauth-wasm:<version>
# The build is reproducible: timestamps come from SOURCE_DATE_EPOCH, else the
# last commit.
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

layout="$out/tinyauth-wasm"
rm -rf "$layout"
mkdir -p "$layout/blobs/sha256"

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

read -r layer_digest layer_size < <(blob "$wasm")
read -r config_digest config_size < <(printf '{"created":"%s","author":"tinyauth-wasm","description":"Tinyauth login and access control as a proxy-wasm filter","architecture":"wasm","os":"wasip1"}' "$created" | blob)
read -r manifest_digest manifest_size < <(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.module.wasm.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.module.wasm.content.layer.v1+wasm","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.title":"plugin.wasm"}}],"annotations":{"org.opencontainers.image.created":"%s","org.opencontainers.image.version":"%s","org.opencontainers.image.title":"tinyauth-wasm"}}' \
  "$config_digest" "$config_size" "$layer_digest" "$layer_size" "$created" "$version" | blob)
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
  "$manifest_digest" "$manifest_size" "$version" >"$layout/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"

tarball="$out/tinyauth-wasm-$version.oci.tar"
tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner -C "$layout" -cf "$tarball" .
echo "OCI image layout: $layout (tag $version, manifest sha256:$manifest_digest)"
echo "OCI archive:      $tarball"
echo "Module digest for WasmPlugin.spec.sha256: $layer_digest"
