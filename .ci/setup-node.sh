#!/usr/bin/env bash
# Installs what the test node (tests/fixtures/node.py) runs besides the Go binaries: Debian's
# containerd and runc, the CNI plugins, conntrack, iptables, busybox (the pause and busybox
# images are made from it), iproute2 and util-linux (ip, unshare, nsenter). Idempotent. The
# fixture starts its own containerd with its own config and sockets, so the packaged service is
# kept from starting (and stopped if an earlier install started it).
set -euo pipefail
packages=(containerd runc containernetworking-plugins conntrack iptables busybox iproute2 util-linux)

bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" "${packages[@]}"

if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl disable --now containerd >/dev/null 2>&1 || true
elif [ -x /etc/init.d/containerd ]; then
  /etc/init.d/containerd stop >/dev/null 2>&1 || true
fi

for tool in /usr/bin/containerd /usr/bin/ctr /usr/sbin/runc /usr/lib/cni/bridge /usr/lib/cni/host-local \
            /usr/sbin/conntrack /usr/sbin/iptables /bin/busybox /usr/bin/unshare /usr/bin/nsenter; do
  [ -x "$tool" ] || { echo "setup-node: $tool is missing after install" >&2; exit 1; }
done
