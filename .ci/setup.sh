#!/usr/bin/env bash
# Everything the test suite needs on a fresh machine, as root: Debian's registry, nginx and
# skopeo; this package with its test extras; the real helm 3.x and 4.x; the kube-apiserver
# test cluster built from Go modules; the test node (containerd, runc, CNI plugins from Debian,
# the kubelet and the other node components built from Go modules). Each step is cached and
# quick when already done.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
step() { printf '\n== %s\n' "$*"; }
step "system packages (docker-registry, nginx, skopeo, tmux)"
bash .ci/setup-registry.sh
command -v tmux >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >/dev/null; }
step "qemu-utils (qemu-img makes the qcow2 disks the push-disk tests push)"
command -v qemu-img >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-utils >/dev/null; }
step "python package and test dependencies (pytest, ruff, mypy and its stubs, import-linter: pyproject.toml [test])"
python3 -m pip install -q --disable-pip-version-check -e '.[test]'
step "helm 3.x and 4.x"
bash .ci/install-helm.sh
step "the real docker-registry chart 3.0.0 (installer/chart.py: \$REGISTRY_INSTALLER_CHART, ../shared/charts, cache, helm pull)"
python3 -c 'from installer.chart import CACHE_DIR, CHART_FILE, local_chart
import shutil; path = local_chart(helm="'"$HOME"'/.cache/registry-installer-tests/bin/helm3").path
CACHE_DIR.mkdir(parents=True, exist_ok=True)
if path.is_file() and path != CACHE_DIR / CHART_FILE: shutil.copyfile(path, CACHE_DIR / CHART_FILE)
print(path)'
step "Gateway API CRDs for the test cluster (the sigs.k8s.io/gateway-api Go module, into the Go module cache)"
python3 -c 'from tests.fixtures.cluster import gateway_api_crds; print(gateway_api_crds())'
step "kube-apiserver test cluster (Go)"
bash .ci/build-cluster.sh >/dev/null
step "test node: containerd, runc, CNI plugins (Debian); kubelet & co. (Go)"
bash .ci/setup-node.sh
bash .ci/build-node.sh >/dev/null
step "S3-compatible test server: SeaweedFS (Go)"
bash .ci/build-s3.sh >/dev/null
echo "setup done"
