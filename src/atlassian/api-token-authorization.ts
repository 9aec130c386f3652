/** How a stored scoped API token is sent to the gateway (docs/reference/atlassian.md §3: both forms are accepted). */
import { CredentialInvalidError } from '../errors.js'
import type { CredentialData } from '../secrets/secret-store.js'

/** The Authorization header for a scoped API token: Basic `email:token` when an email is stored, else Bearer. */
export function apiTokenAuthorization (data: CredentialData): string {
  const token = data.token
  if (token === undefined) throw new CredentialInvalidError('an api-token integration needs token')
  const email = data.email
  return email !== undefined ? `Basic ${Buffer.from(`${email}:${token}`).toString('base64')}` : `Bearer ${token}`
}
