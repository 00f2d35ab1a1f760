#!/usr/bin/env bash
# Builds one Go program of the test harness once, cached outside git by the hash of its
# sources, and prints the binary's path. Used by build-cluster.sh and build-node.sh.
#   usage: build-go.sh NAME SRC_DIR CACHE_DIR [EXTRA_FILE ...]   (extra files: embedded, also hashed)
# The binary reports the Kubernetes version it was built from (go.mod's k8s.io/kubernetes), as a
# release build does; without these flags it says v0.0.0-master. Build output goes to stderr;
# the exit code says whether the binary is there. A second caller waits for the first build.
#   Cache: ${REGISTRY_INSTALLER_TEST_CACHE:-~/.cache/registry-installer-tests}/<cache dir>/<hash>/NAME
set -euo pipefail
name="$1" src="$(cd "$2" && pwd)" cache_dir="$3"; shift 3
cache="${REGISTRY_INSTALLER_TEST_CACHE:-$HOME/.cache/registry-installer-tests}/$cache_dir"
k8s_version=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$src/go.mod")
minor=$(echo "$k8s_version" | cut -d. -f2)
ldflags="-X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
hash=$( (cd "$src" && cat go.mod go.sum ./*.go "$@"; echo "$ldflags") | sha256sum | cut -c1-16)
out="$cache/$hash/$name"
if [ -x "$out" ]; then
  echo "$out"
  exit 0
fi
mkdir -p "$cache/$hash"
exec 9>"$cache/$hash/.lock"
flock 9
if [ ! -x "$out" ]; then
  start=$(date +%s)
  echo "building $name ($hash): ${BUILD_HINT:-minutes on a cold Go cache}..." >&2
  (cd "$src" && go build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$out.tmp" .) >&2
  mv "$out.tmp" "$out"
  echo "built $out in $(( $(date +%s) - start ))s" >&2
fi
echo "$out"
