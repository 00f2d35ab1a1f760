#!/usr/bin/env bash
# Installs Debian's docker-registry, nginx and skopeo for the registry tests (run as root in CI).
# Idempotent: does nothing when the three tools are already there. The tests start their own
# registry and nginx on 127.0.0.1, so the packaged services are kept from starting (and stopped
# if an earlier install started them).
set -euo pipefail
packages=(docker-registry nginx skopeo)

bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" "${packages[@]}"

# We never need the packaged services: stop and disable them if something started them.
for svc in nginx docker-registry; do
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
  elif [ -x "/etc/init.d/$svc" ]; then
    "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
  fi
done

for tool in /usr/bin/docker-registry /usr/sbin/nginx /usr/bin/skopeo; do
  [ -x "$tool" ] || { echo "setup-registry: $tool is missing after install" >&2; exit 1; }
done
