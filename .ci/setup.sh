#!/usr/bin/env bash
# Everything the test suite needs on a fresh machine, as root: Debian's registry, nginx and
# skopeo; this package with its test extras; the real helm 3.x and 4.x; the kube-apiserver
# test cluster built from Go modules. Each step is cached and quick when already done.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
step() { printf '\n== %s\n' "$*"; }
step "system packages (docker-registry, nginx, skopeo, tmux)"
bash .ci/setup-registry.sh
command -v tmux >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >/dev/null; }
step "qemu-utils (qemu-img makes the qcow2 disks the push-disk tests push)"
command -v qemu-img >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-utils >/dev/null; }
step "python package and test dependencies"
python3 -m pip install -q --disable-pip-version-check -e '.[test]'
step "helm 3.x and 4.x"
bash .ci/install-helm.sh
step "kube-apiserver test cluster (Go)"
bash .ci/build-cluster.sh >/dev/null
echo "setup done"
