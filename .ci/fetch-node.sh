#!/usr/bin/env bash
# Fetch (once) an exact Node.js release from the npm registry's node-linux-<arch> package and cache it outside the
# repository, so CI can run the suite on the LTS line the container image uses as well as on the machine's Node.
# The registry checks the tarball's integrity against its published sha512 (`npm pack`).
#
# Usage: .ci/fetch-node.sh 26.12.1      stdout: only the bin directory (put it first on PATH).   stderr: progress.
# Exit codes: 0 ok (fetched or cache hit), 3 skipped (no package for this CPU), anything else: failure.
# Env: ATLASSIAN_BROKER_CACHE  cache root (default $HOME/.cache/atlassian-broker)
set -euo pipefail

version=${1:?usage: fetch-node.sh <exact x.y.z>}
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "[fetch-node] not an exact version: $version" >&2; exit 2; }
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64|arm64) arch=arm64 ;;
  *) echo "[fetch-node] skipped: no node-linux package for $(uname -m)" >&2; exit 3 ;;
esac

cache_root="${ATLASSIAN_BROKER_CACHE:-$HOME/.cache/atlassian-broker}"
dir="$cache_root/node-$version-linux-$arch"
ok () { [[ -x "$1/bin/node" ]] && [[ "$("$1/bin/node" --version)" == "v$version" ]]; }

if ! ok "$dir"; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  echo "[fetch-node] npm pack node-linux-$arch@$version" >&2
  (cd "$work" && npm pack --silent "node-linux-$arch@$version" >/dev/null)
  mkdir -p "$work/unpacked" "$cache_root"
  tar -xzf "$work/node-linux-$arch-$version.tgz" -C "$work/unpacked" --strip-components=1
  ok "$work/unpacked" || { echo "[fetch-node] the unpacked binary is not Node v$version" >&2; exit 1; }
  rm -rf "$dir"
  mv "$work/unpacked" "$dir"
fi
printf '%s\n' "$dir/bin"
