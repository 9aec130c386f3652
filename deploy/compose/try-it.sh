#!/usr/bin/env bash
# Try atlassian-broker end to end on a laptop, with Docker and the Compose plugin:
#   1. build and start the broker and a Vault dev server (docker-compose.yaml),
#   2. store your Atlassian service account's OAuth client credentials in Vault KV,
#   3. mint a caller token for the caller "laptop",
#   4. call GET /rest/api/3/myself through the broker.
#
#   ATLASSIAN_CLOUD_ID=<uuid> ATLASSIAN_CLIENT_ID=<id> ./try-it.sh    # asks for the client secret (not echoed)
#
# Env: ATLASSIAN_CLOUD_ID      your site's cloudId: https://<site>.atlassian.net/_edge/tenant_info
#      ATLASSIAN_CLIENT_ID     the service account's OAuth 2.0 client id
#      ATLASSIAN_CLIENT_SECRET its client secret (asked for when unset; read from stdin by Vault, never put on a
#                              command line where `ps` would show it)
set -euo pipefail
cd "$(dirname "$0")"

: "${ATLASSIAN_CLOUD_ID:?set ATLASSIAN_CLOUD_ID to your site cloudId (https://<site>.atlassian.net/_edge/tenant_info)}"
: "${ATLASSIAN_CLIENT_ID:?set ATLASSIAN_CLIENT_ID to the service account OAuth client id}"
if [[ -z "${ATLASSIAN_CLIENT_SECRET:-}" ]]; then
  read -r -s -p "Client secret for ${ATLASSIAN_CLIENT_ID}: " ATLASSIAN_CLIENT_SECRET
  echo
fi
export ATLASSIAN_CLOUD_ID

echo "==> building and starting the broker and Vault (dev mode)"
# Vault first: the broker logs in at start, so the credential path can exist before its first call.
docker compose up --detach --wait vault

echo "==> storing the credential at secret/atlassian-broker/jira-main"
# `client_secret=-`: the value is read from stdin.
printf '%s' "$ATLASSIAN_CLIENT_SECRET" | docker compose exec -T vault \
  vault kv put secret/atlassian-broker/jira-main client_id="$ATLASSIAN_CLIENT_ID" client_secret=-

docker compose up --detach --wait --build broker

echo "==> minting a caller token for \"laptop\""
TOKEN="$(docker compose exec -T broker node dist/broker/main.js caller-token --sub laptop --ttl 15m)"

echo "==> GET /rest/api/3/myself through the broker"
status="$(curl --silent --show-error --output /dev/stderr --write-out '%{http_code}' \
  -H "Authorization: Bearer $TOKEN" -H 'Accept: application/json' \
  http://127.0.0.1:8787/proxy/jira-main/rest/api/3/myself)"
echo
echo "==> HTTP $status"
if [[ "$status" != 200 ]]; then
  echo "The broker's log (docker compose logs broker) says why; the body above is its problem answer." >&2
  exit 1
fi
echo "Done. Stop everything with: docker compose down --volumes"
