/**
 * The one detector of the gateway's "scope does not match" 401. Atlassian's gateway answers a token it recognised but
 * whose scopes do not cover the operation with `401 {"code":401,"message":"Unauthorized; scope does not match"}`; a
 * bad or revoked token gets a 401 without the clause (docs/reference/atlassian.md §4). jira.js tells the two apart the
 * same way (`/scope does not match/i` on a 401, src/core/createClient.ts). The credential probe and the fresh-token
 * layer both ask this module, so they cannot disagree on what a scope refusal is.
 */

/** Enough of a 401 body to find the clause: the gateway's answer is a small JSON object. */
export const SCOPE_MISMATCH_READ_BYTES = 4_096

const SCOPE_MISMATCH = /scope does not match/i

/** True when Atlassian recognised the credential but refused it for a missing scope (not a revoked token). */
export function isScopeMismatch (statusCode: number, body: string): boolean {
  return statusCode === 401 && SCOPE_MISMATCH.test(body)
}
