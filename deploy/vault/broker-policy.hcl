# atlassian-broker: what the broker itself needs, and nothing more (read-only).
#
# Paths assume the defaults `vault.mount: secret` and `vault.prefix: atlassian-broker`; for other values replace
# "secret/" and "atlassian-broker" (setup.sh does it with sed). KV v2 splits a secret over two API paths: the value
# under {mount}/data/, versions and custom_metadata under {mount}/metadata/.
#
#   vault policy write atlassian-broker broker-policy.hcl

# Read the current credential of an integration, or a given version (?version=N).
path "secret/data/atlassian-broker/*" {
  capabilities = ["read"]
}

# current_version for cheap revalidation, version history, lifecycle custom_metadata; list the integrations.
path "secret/metadata/atlassian-broker/*" {
  capabilities = ["read", "list"]
}

# The prefix itself: a LIST (or GET ?list=true) of the folder is checked against "<prefix>/", which the glob above
# already matches; stated on its own so the listing does not silently depend on the glob's shape.
path "secret/metadata/atlassian-broker/" {
  capabilities = ["list"]
}

# Keep the broker's own token alive, and tell a dead token from a policy gap after a 403 (Vault 1.15 says only
# "permission denied" for both). The default policy grants these too; listed so the role works with no_default_policy.
path "auth/token/lookup-self" {
  capabilities = ["read"]
}

path "auth/token/renew-self" {
  capabilities = ["update"]
}
