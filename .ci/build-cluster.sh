#!/usr/bin/env bash
# Builds tests/cluster (the kube-test-cluster binary: etcd + kube-apiserver in one process)
# once, cached outside git by the hash of the Go sources, and prints the binary's path.
# A warm run only hashes a few files. Build output goes to stderr; the exit code says
# whether the binary is there.
#   Cache: ${REGISTRY_INSTALLER_TEST_CACHE:-~/.cache/registry-installer-tests}/cluster/<hash>/
set -euo pipefail
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests/cluster" && pwd)"
cache="${REGISTRY_INSTALLER_TEST_CACHE:-$HOME/.cache/registry-installer-tests}/cluster"
# Everything that goes into the binary: module files, Go sources, embedded files.
hash=$(cd "$src" && cat go.mod go.sum ./*.go rbac.yaml | sha256sum | cut -c1-16)
out="$cache/$hash/kube-test-cluster"
if [ -x "$out" ]; then
  echo "$out"
  exit 0
fi
mkdir -p "$cache/$hash"
exec 9>"$cache/$hash/.lock"
flock 9  # a second caller waits for the first build instead of starting its own
if [ ! -x "$out" ]; then
  start=$(date +%s)
  echo "building kube-test-cluster ($hash), a cold build takes 10-20 minutes on 2 cores (warm Go cache: under a minute)..." >&2
  (cd "$src" && go build -trimpath -buildvcs=false -o "$out.tmp" .) >&2
  mv "$out.tmp" "$out"
  echo "built $out in $(( $(date +%s) - start ))s" >&2
fi
echo "$out"
