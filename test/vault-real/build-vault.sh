#!/usr/bin/env bash
# Build (once) a real HashiCorp Vault server binary from the Go module proxy and cache it outside the repository.
#
# Recipe: docs/reference/vault-build.md. `go install github.com/hashicorp/vault@v1.15.0` refuses because the
# root go.mod replaces api/sdk with in-tree folders that the module zip leaves out, so we copy the module source, drop
# those replace directives and require published sub-module versions. The one combination that builds is
# root v1.15.0 + sdk v0.10.2 + api v1.11.0.
#
# stdout: only the path of the binary.   stderr: progress.
# Exit codes: 0 ok (built or cache hit), 3 skipped (no Go toolchain), anything else: failure.
#
# Env: ATLASSIAN_BROKER_CACHE  cache root (default $HOME/.cache/atlassian-broker)
#      VAULT_BUILD_MIN_FREE_GB free space wanted for the build (default 6; module cache ~3 GB + build cache)
set -euo pipefail

VAULT_VERSION=1.15.0
VAULT_SDK_VERSION=0.10.2
VAULT_API_VERSION=1.11.0

CACHE_ROOT="${ATLASSIAN_BROKER_CACHE:-$HOME/.cache/atlassian-broker}"
VAULT_DIR="$CACHE_ROOT/vault-$VAULT_VERSION"
BIN="$VAULT_DIR/vault"

log() { printf '[build-vault] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

binary_ok() { [[ -x "$1" ]] && "$1" version >/dev/null 2>&1; }

# --- cache hit: nothing to do ---------------------------------------------------------------------------------------
if binary_ok "$BIN"; then
  printf '%s\n' "$BIN"
  exit 0
fi

# --- toolchain ------------------------------------------------------------------------------------------------------
if ! command -v go >/dev/null 2>&1; then
  log "skipped: the 'go' command is not on PATH; a real Vault server is built from source with Go (>= 1.21)."
  log "install Go (https://go.dev/dl/) or put a Vault $VAULT_VERSION binary at $BIN"
  exit 3
fi

mkdir -p "$VAULT_DIR"

# Serialise concurrent callers (e.g. parallel test files): the second one waits, then takes the cache hit.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$VAULT_DIR/.build.lock"
  if ! flock -n 9; then
    log "another build of Vault $VAULT_VERSION is running; waiting for it…"
    flock 9
  fi
  if binary_ok "$BIN"; then
    printf '%s\n' "$BIN"
    exit 0
  fi
fi

# --- disk space -----------------------------------------------------------------------------------------------------
free_gb() { df -Pk "$1" 2>/dev/null | awk 'NR == 2 { printf "%d", $4 / 1048576 }'; }
min_free_gb="${VAULT_BUILD_MIN_FREE_GB:-6}"
modcache="$(go env GOMODCACHE)"
mkdir -p "$modcache"
for d in "$VAULT_DIR" "$modcache"; do
  gb="$(free_gb "$d")"
  if [[ -n "$gb" && "$gb" -lt "$min_free_gb" ]]; then
    log "warning: only ${gb} GB free on the filesystem of $d (the first build wants about ${min_free_gb} GB)"
  fi
done

# --- build in a temp dir under the cache dir (same filesystem as $BIN, so the final mv is an atomic rename) ---------
start=$SECONDS
WORK="$(mktemp -d "$VAULT_DIR/build.XXXXXX")"
cleanup() { chmod -R u+w "$WORK" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
mkdir -p "$WORK/gotmp"
# Keep the compiler's scratch files off /tmp, which may be a small tmpfs.
export GOTMPDIR="$WORK/gotmp"
# -mod=mod lets go add the go.sum lines of the newer sub-modules; drop any -mod=... the caller had set.
export GOFLAGS="$(printf '%s' "${GOFLAGS:-}" | sed -E 's/(^| )-mod=[^ ]*//g') -mod=mod"
export GOFLAGS="${GOFLAGS# }"
export CGO_ENABLED="${CGO_ENABLED:-1}"

log "Vault $VAULT_VERSION (sdk v$VAULT_SDK_VERSION, api v$VAULT_API_VERSION) not cached; building into $VAULT_DIR"
log "downloading modules… (module cache about 3 GB on a cold cache, in $modcache)"
dl_json="$(go mod download -json "github.com/hashicorp/vault@v$VAULT_VERSION")" \
  || die "go mod download github.com/hashicorp/vault@v$VAULT_VERSION failed: $dl_json"
src_dir="$(printf '%s\n' "$dl_json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' | head -n 1)"
[[ -n "$src_dir" && -d "$src_dir" ]] || die "could not find the module source dir in: $dl_json"

cp -r "$src_dir" "$WORK/src"
chmod -R u+w "$WORK/src"
cd "$WORK/src"

for m in $(grep -oE '^replace github.com/hashicorp/vault/[^ ]+' go.mod | awk '{print $2}'); do
  go mod edit -dropreplace "$m"
done
# The block form `replace ( ... )` is not used by v1.15.0; refuse to guess if it ever appears.
if grep -qE '^[[:space:]]+github.com/hashicorp/vault/[^ ]+ => \./' go.mod; then
  die "go.mod still has in-tree replace directives; the recipe needs updating"
fi
go mod edit \
  -require "github.com/hashicorp/vault/sdk@v$VAULT_SDK_VERSION" \
  -require "github.com/hashicorp/vault/api@v$VAULT_API_VERSION"

# Fetch what the build needs (and record the go.sum lines) before compiling, so the two phases show separately.
go list -deps . >/dev/null

log "compiling… (takes ~10 min on 2 cores the first time)"
# Not `-o vault` as in the reference recipe: the module root has a `vault/` package directory, and -o naming an existing
# directory makes go write the binary inside it (vault/vault). Write it outside the source tree instead.
out="$WORK/vault.new"
if ! go build -trimpath -ldflags "-s -w" -o "$out" . ; then
  log "build with -trimpath -ldflags '-s -w' failed; retrying without them"
  go build -o "$out" .
fi
cd /

if ! version_out="$("$out" version 2>&1)"; then
  die "the freshly built binary does not run: $version_out"
fi
chmod 0755 "$out"
mv -f "$out" "$BIN"
log "built $("$BIN" version) in $((SECONDS - start)) s: $BIN ($(du -h "$BIN" | cut -f1))"
printf '%s\n' "$BIN"
