#!/bin/sh
# Example report: the last day's updated issues of a project, fetched through the broker sidecar.
# The caller token is re-read on every call: kubelet rotates the projected file before it expires.
set -eu
BROKER="${BROKER_URL:-http://127.0.0.1:8787}"
TOKEN_FILE="${CALLER_TOKEN_FILE:-/var/run/secrets/atlassian-broker/token}"
JQL="${REPORT_JQL:-project = OPS AND updated >= -1d ORDER BY updated DESC}"

call() {
  curl --silent --show-error --fail-with-body --retry 3 --retry-connrefused --max-time 60 \
    -H "Authorization: Bearer $(cat "$TOKEN_FILE")" -H 'Accept: application/json' "$@"
}

call --get "$BROKER/proxy/jira-main/rest/api/3/search/jql" \
  --data-urlencode "jql=$JQL" --data-urlencode 'fields=key,summary,status,updated' --data-urlencode 'maxResults=100'
echo
