#!/usr/bin/env bash
# Builds SeaweedFS's `weed` (the S3-compatible server the S3 tests write to) from its Go module,
# once, cached outside git by version and build flags, and prints the binary's path.
# The module is built as its own main module (its go.mod, go.sum and replace directives apply),
# from a writable copy of the module cache's read-only tree. A warm run only checks a file.
# Build output goes to stderr; the exit code says whether the binary is there.
#   Cache: ${REGISTRY_INSTALLER_TEST_CACHE:-~/.cache/registry-installer-tests}/s3/<hash>/weed
set -euo pipefail
module=github.com/seaweedfs/seaweedfs
version=v0.0.0-20261109003541-7506e5f91cd6   # served by the Go module proxy; bump deliberately
cache="${REGISTRY_INSTALLER_TEST_CACHE:-$HOME/.cache/registry-installer-tests}/s3"
flags=(-trimpath -buildvcs=false -ldflags "-s -w")
hash=$(printf '%s@%s %s %s\n' "$module" "$version" "${flags[*]}" "$(go env GOVERSION)" | sha256sum | cut -c1-16)
out="$cache/$hash/weed"
if [ -x "$out" ]; then
  echo "$out"
  exit 0
fi
mkdir -p "$cache/$hash"
exec 9>"$cache/$hash/.lock"
flock 9  # a second caller waits for the first build instead of starting its own
if [ ! -x "$out" ]; then
  start=$(date +%s)
  echo "building SeaweedFS weed $version ($hash): a cold build takes many minutes on 2 cores..." >&2
  dir=$(go mod download -json "$module@$version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  work=$(mktemp -d)
  trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
  mkdir -p "$work/telemetry"
  cp -r "$dir/go.mod" "$dir/go.sum" "$dir/weed" "$work/"
  cp -r "$dir/telemetry/proto" "$work/telemetry/"
  chmod -R u+w "$work"
  (cd "$work" && CGO_ENABLED=0 nice -n 10 go build "${flags[@]}" -o "$out.tmp" ./weed) >&2
  mv "$out.tmp" "$out"
  echo "built $out in $(( $(date +%s) - start ))s" >&2
fi
echo "$out"
