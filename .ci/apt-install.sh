#!/usr/bin/env bash
# Installs the Debian packages named on the command line that are not installed yet (run as
# root). Refreshes the package lists only when apt cannot see one of them. Packaged services
# are kept from starting during the install (policy-rc.d): the tests start their own servers.
set -euo pipefail
missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ "${#missing[@]}" -gt 0 ] || exit 0
export DEBIAN_FRONTEND=noninteractive
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
