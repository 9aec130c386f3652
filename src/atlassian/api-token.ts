/**
 * How Atlassian takes a scoped API token: HTTP Basic with `email:token` when the account's email is known, else the
 * token as a Bearer. One owner for the header: the token provider sends it, the credential probe and `init` check it.
 */
import { CredentialInvalidError } from '../errors.js'
import type { CredentialData } from '../secrets/secret-store.js'

/** The Authorization header for a scoped API token: Basic `email:token` when an email is stored, else Bearer. */
export function apiTokenAuthorization (data: CredentialData): string {
  const token = data.token
  if (token === undefined) throw new CredentialInvalidError('an api-token integration needs token')
  const email = data.email
  return email !== undefined ? `Basic ${Buffer.from(`${email}:${token}`).toString('base64')}` : `Bearer ${token}`
}
