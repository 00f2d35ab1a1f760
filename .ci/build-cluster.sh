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
# The apiserver reports the Kubernetes version it was built from (go.mod's k8s.io/kubernetes), as a
# release build does; without these flags it says v0.0.0-master.
k8s_version=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$src/go.mod")
minor=$(echo "$k8s_version" | cut -d. -f2)
ldflags="-X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
hash=$( (cd "$src" && cat go.mod go.sum ./*.go rbac.yaml; echo "$ldflags") | sha256sum | cut -c1-16)
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
  (cd "$src" && go build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$out.tmp" .) >&2
  mv "$out.tmp" "$out"
  echo "built $out in $(( $(date +%s) - start ))s" >&2
fi
echo "$out"
