# atlassian-broker: credential rotation. Give it, together with broker-policy.hcl, only to the identity that rotates
# credentials (a platform team's pipeline, or the broker's admin API when rotation through the broker is wanted).
# The broker's serving identity stays read-only.
#
# Paths assume `vault.mount: secret` and `vault.prefix: atlassian-broker` (see broker-policy.hcl).
#
#   vault policy write atlassian-broker-rotator broker-rotator-policy.hcl

# Write a new version with check-and-set: `create` for an integration's first credential, `update` for the next ones.
# No `delete`/`destroy`: old versions stay readable for rollback until KV's max_versions prunes them.
path "secret/data/atlassian-broker/*" {
  capabilities = ["create", "update"]
}

# Merge lifecycle fields (rotated_at, rotated_by, expires_at, owner, version_N_by) and the resolved site (site,
# site_cloud_id, site_resolved_at) into custom_metadata with PATCH.
# Not `update`: a POST on metadata replaces the whole custom_metadata map and could also change max_versions or
# cas_required.
path "secret/metadata/atlassian-broker/*" {
  capabilities = ["patch"]
}
