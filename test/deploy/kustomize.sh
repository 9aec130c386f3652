#!/usr/bin/env bash
# Find or build (once) a kustomize binary for the deploy tests, and cache it outside the repository, like
# test/vault-real/build-vault.sh does for Vault. kustomize is a Go module, so the Go module proxy is enough:
#   go install sigs.k8s.io/kustomize/kustomize/v5@v$KUSTOMIZE_VERSION
# A `kustomize` already on PATH is used as it is when it is v5 (kubectl's built-in `kubectl kustomize` is not
# used: its embedded version follows kubectl's, not ours).
#
# stdout: only the path of the binary.   stderr: progress.
# Exit codes: 0 ok (found, built or cache hit), 3 skipped (no kustomize and no Go toolchain), anything else: failure.
#
# Env: ATLASSIAN_BROKER_CACHE  cache root (default $HOME/.cache/atlassian-broker)
#      KUSTOMIZE_VERSION       version to build (default below)
set -euo pipefail

# 5.5.0: the version kubectl 1.32 embeds, and one whose whole dependency graph the Go module proxy serves (5.8.3 needs
# go >= 1.27 and a kube-openapi pseudo-version the proxy refuses with 403).
KUSTOMIZE_VERSION="${KUSTOMIZE_VERSION:-5.5.0}"
CACHE_ROOT="${ATLASSIAN_BROKER_CACHE:-$HOME/.cache/atlassian-broker}"
DIR="$CACHE_ROOT/kustomize-$KUSTOMIZE_VERSION"
BIN="$DIR/kustomize"

log() { printf '[kustomize] %s\n' "$*" >&2; }

binary_ok() { [[ -x "$1" ]] && "$1" version >/dev/null 2>&1; }

# --- cache hit -------------------------------------------------------------------------------------------------------
if binary_ok "$BIN"; then
  printf '%s\n' "$BIN"
  exit 0
fi

# --- one on PATH (a CI image or a developer's machine may have it) ---------------------------------------------------
if command -v kustomize >/dev/null 2>&1 && kustomize version 2>/dev/null | grep -q 'v5\.'; then
  command -v kustomize
  exit 0
fi

# --- build from the Go module proxy ----------------------------------------------------------------------------------
if ! command -v go >/dev/null 2>&1; then
  log "skipped: no kustomize v5 on PATH and no 'go' command to build one with"
  log "install Go, or put a kustomize v5 binary at $BIN (https://kubectl.docs.kubernetes.io/installation/kustomize/)"
  exit 3
fi

mkdir -p "$DIR"
# Serialise concurrent callers: the second waits for the first build, then takes the cache hit.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$DIR/.build.lock"
  if ! flock -n 9; then
    log "another build of kustomize $KUSTOMIZE_VERSION is running; waiting for it…"
    flock 9
  fi
  if binary_ok "$BIN"; then
    printf '%s\n' "$BIN"
    exit 0
  fi
fi

start=$SECONDS
WORK="$(mktemp -d "$DIR/build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
log "kustomize $KUSTOMIZE_VERSION not cached; building it with $(go version | awk '{print $3}') into $DIR (about 2-3 min on 2 cores the first time)"
# GOBIN in a temp dir on the same filesystem, then an atomic rename: a half-written binary is never cached.
# GOFLAGS=-mod=mod: `go install pkg@version` ignores any go.mod around us, but a caller's -mod=vendor would break it.
GOBIN="$WORK" GOFLAGS=-mod=mod GOTOOLCHAIN="${GOTOOLCHAIN:-auto}" \
  go install "sigs.k8s.io/kustomize/kustomize/v5@v$KUSTOMIZE_VERSION" >&2
"$WORK/kustomize" version >/dev/null 2>&1 || { log "error: the freshly built binary does not run"; exit 1; }
mv -f "$WORK/kustomize" "$BIN"
log "built kustomize $("$BIN" version) in $((SECONDS - start)) s: $BIN"
printf '%s\n' "$BIN"
