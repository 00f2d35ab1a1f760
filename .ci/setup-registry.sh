#!/usr/bin/env bash
# Installs Debian's docker-registry, nginx and skopeo for the registry tests (run as root in CI).
# Idempotent: does nothing when the three tools are already there. The tests start their own
# registry and nginx on 127.0.0.1, so the packaged services are kept from starting (and stopped
# if an earlier install started them).
set -euo pipefail
packages=(docker-registry nginx skopeo)

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done

if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  # Refresh the package lists only when apt cannot see one of the packages yet.
  for pkg in "${missing[@]}"; do
    if ! apt-cache show "$pkg" >/dev/null 2>&1; then apt-get update -qq; break; fi
  done
  # policy-rc.d exit 101 tells invoke-rc.d not to start the packaged services during install.
  policy=/usr/sbin/policy-rc.d
  created_policy=no
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 0755 "$policy"; created_policy=yes
  fi
  trap '[ "$created_policy" = yes ] && rm -f "$policy"' EXIT
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

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
