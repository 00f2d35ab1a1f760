#!/usr/bin/env bash
# Builds tests/cluster (the kube-test-cluster binary: etcd + kube-apiserver in one process)
# once, cached outside git by the hash of the Go sources, and prints the binary's path.
# A warm run only hashes a few files. Build output goes to stderr; the exit code says
# whether the binary is there.
#   Cache: ${REGISTRY_INSTALLER_TEST_CACHE:-~/.cache/registry-installer-tests}/cluster/<hash>/
set -euo pipefail
ci="$(dirname "${BASH_SOURCE[0]}")"
BUILD_HINT="a cold build takes 10-20 minutes on 2 cores (warm Go cache: under a minute)" \
  exec bash "$ci/build-go.sh" kube-test-cluster "$ci/../tests/cluster" cluster rbac.yaml
