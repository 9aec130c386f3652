#!/usr/bin/env bash
# Vault setup for atlassian-broker: commented commands to read, adapt and run by hand (or paste into your IaC).
# Nothing here runs by default: every command is a comment. Needs a Vault token allowed to manage mounts, auth methods
# and policies (VAULT_ADDR, VAULT_TOKEN, and VAULT_NAMESPACE on Enterprise).
#
# Variables used below (defaults match the broker's config defaults):
MOUNT="${MOUNT:-secret}"                  # vault.mount
PREFIX="${PREFIX:-atlassian-broker}"      # vault.prefix
HERE="$(cd "$(dirname "$0")" && pwd)"
echo "This script only documents commands; open it and run the ones you need (MOUNT=$MOUNT PREFIX=$PREFIX, files in $HERE)." >&2

# --- 1. KV version 2 ---------------------------------------------------------------------------------------------------
# A dev server already mounts secret/ as KV v2. Elsewhere:
#   vault secrets enable -path="$MOUNT" -version=2 kv
# Keep 10 versions (rollback by reading ?version=N) and require check-and-set on every write, so two rotators
# cannot overwrite each other (the broker always writes with options.cas):
#   vault write "$MOUNT/config" max_versions=10 cas_required=true

# --- 2. Policies ---------------------------------------------------------------------------------------------------------
# Render the policy files for your mount and prefix, then load them:
#   sed -e "s#\"secret/#\"$MOUNT/#" -e "s#/atlassian-broker#/$PREFIX#" "$HERE/broker-policy.hcl" \
#     | vault policy write atlassian-broker -
#   sed -e "s#\"secret/#\"$MOUNT/#" -e "s#/atlassian-broker#/$PREFIX#" "$HERE/broker-rotator-policy.hcl" \
#     | vault policy write atlassian-broker-rotator -

# --- 3a. AppRole (VMs, CI, anything outside Kubernetes) ---------------------------------------------------------------------
#   vault auth enable approle
# The broker renews its token at 2/3 of the TTL and logs in again before token_max_ttl; keep both short.
# secret_id_ttl bounds how long a leaked secret id is useful: rotate it (secretIdFile is re-read at each login).
# The CIDR bindings are optional: set them to the network the broker runs in, or drop both lines.
#   vault write auth/approle/role/atlassian-broker \
#     token_policies=atlassian-broker \
#     token_ttl=20m token_max_ttl=4h \
#     secret_id_ttl=720h secret_id_num_uses=0 \
#     token_bound_cidrs="10.0.0.0/8" secret_id_bound_cidrs="10.0.0.0/8"
#   vault read -field=role_id auth/approle/role/atlassian-broker/role-id          # -> vault.auth.roleId
#   vault write -f -field=secret_id auth/approle/role/atlassian-broker/secret-id  # -> the file at vault.auth.secretIdFile
# A separate role for rotation (platform team pipeline or the admin API), with both policies:
#   vault write auth/approle/role/atlassian-broker-rotator \
#     token_policies=atlassian-broker,atlassian-broker-rotator token_ttl=10m token_max_ttl=1h secret_id_ttl=24h

# --- 3b. Kubernetes (the broker as a sidecar) ----------------------------------------------------------------------------
#   vault auth enable kubernetes
#   vault write auth/kubernetes/config kubernetes_host="https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"
# Bind the role to exactly the service account and namespace that run the broker, and to an audience that only Vault
# accepts; mount a projected token with that audience (it is re-read at each login, so kubelet rotation is fine):
#   vault write auth/kubernetes/role/atlassian-broker \
#     bound_service_account_names=atlassian-broker \
#     bound_service_account_namespaces=platform \
#     audience=vault \
#     token_policies=atlassian-broker \
#     token_ttl=20m token_max_ttl=4h
# Pod spec (excerpt):
#   volumes:
#     - name: vault-token
#       projected:
#         sources:
#           - serviceAccountToken: { path: token, audience: vault, expirationSeconds: 3600 }
# and in the broker config: vault.auth: { method: kubernetes, role: atlassian-broker, jwtPath: /var/run/secrets/vault/token }

# --- 4. A first credential -----------------------------------------------------------------------------------------------
# cas=0: only if it does not exist yet. custom_metadata via PATCH keeps keys other tools set.
#   vault kv put -mount="$MOUNT" -cas=0 "$PREFIX/jira-prod" client_id=... client_secret=...
#   vault kv metadata patch -mount="$MOUNT" -custom-metadata=owner=team-a "$PREFIX/jira-prod"
