#!/usr/bin/env bash
# Builds tests/cluster/node (kube-node: kubelet, kube-controller-manager, kube-scheduler and
# kube-proxy in one multi-call binary, from the same k8s.io/kubernetes module as
# kube-test-cluster) once, cached outside git by the hash of its sources, and prints the
# binary's path. Build output goes to stderr; the exit code says whether the binary is there.
#   Cache: ${REGISTRY_INSTALLER_TEST_CACHE:-~/.cache/registry-installer-tests}/node/<hash>/
set -euo pipefail
ci="$(dirname "${BASH_SOURCE[0]}")"
BUILD_HINT="18 minutes cold on a busy 2-core machine, ~6 after kube-test-cluster's build" \
  exec bash "$ci/build-go.sh" kube-node "$ci/../tests/cluster/node" node
