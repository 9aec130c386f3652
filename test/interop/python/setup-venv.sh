#!/usr/bin/env bash
# Install (once) the pinned Python tools the interop tests drive, from PyPI, into a venv cached outside the repository:
# schemathesis (OpenAPI conformance of openapi.yaml against the running broker), atlassian-python-api (the most used
# Python client for Jira and Confluence) and mcp (the Python MCP SDK, the second client of the broker's /mcp).
#
# stdout: only the venv's folder.   stderr: progress.
# Exit codes: 0 ok (installed or cache hit), 3 skipped (no python3 with venv), anything else: failure.
#
# Env: ATLASSIAN_BROKER_CACHE  cache root (default $HOME/.cache/atlassian-broker)
#      ATLASSIAN_BROKER_PYTHON the interpreter (default python3)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
requirements="$here/requirements.txt"
python="${ATLASSIAN_BROKER_PYTHON:-python3}"
CACHE_ROOT="${ATLASSIAN_BROKER_CACHE:-$HOME/.cache/atlassian-broker}"

log() { printf '[python-tools] %s\n' "$*" >&2; }

if ! command -v "$python" >/dev/null 2>&1 || ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  log "skipped: no '$python' with the venv and ensurepip modules on PATH"
  exit 3
fi

# One venv per interpreter version and requirements file: a new pin or a new Python makes a new one.
key="$( { "$python" -c 'import sys; print(sys.version)'; cat "$requirements"; } | sha256sum | cut -c1-12)"
VENV="$CACHE_ROOT/python-tools-$key"
ready() { [[ -f "$VENV/.complete" ]] && "$VENV/bin/python" -c 'import atlassian, schemathesis, mcp' >/dev/null 2>&1; }

if ready; then printf '%s\n' "$VENV"; exit 0; fi

mkdir -p "$CACHE_ROOT"
# Serialise concurrent callers (parallel test files): the second waits, then takes the cache hit.
exec 9>"$CACHE_ROOT/python-tools.lock"
flock 9
if ready; then printf '%s\n' "$VENV"; exit 0; fi

# A venv is not relocatable (its scripts name their interpreter by path), so it is built in place; `.complete` is
# written last, and a venv without it is a broken earlier attempt.
rm -rf "$VENV"
start=$SECONDS
log "installing $(grep -cE '^[A-Za-z]' "$requirements") pinned packages into $VENV"
"$python" -m venv "$VENV" >&2
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$requirements" >&2
"$VENV/bin/python" -c 'import atlassian, schemathesis, mcp' >&2
touch "$VENV/.complete"
log "installed in $((SECONDS - start)) s"
printf '%s\n' "$VENV"
