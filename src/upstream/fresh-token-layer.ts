/**
 * The fresh-token layer around a send: it asks the token provider for the integration's grant, and when Atlassian
 * answers 401 (a token revoked before its expiry, or an API token rotated elsewhere) it drops that grant from the
 * cache, so the next call mints a fresh one, and replays the request once with a fresh grant when its body is
 * replayable (none, or small enough to have been buffered: prepared-body.ts). A streamed body has gone and cannot be
 * sent again: the 401 goes back to the caller.
 *
 * A 401 "scope does not match" is not a revoked token: the start of each 401's body is read (answer-head.ts; the
 * caller still gets all of it) and such a refusal goes to the token provider's scope-refusal rule instead, which allows
 * one refresh and then a cooldown without any (tokens/scope-refusals.ts), so a badly scoped caller cannot drive the
 * token endpoint call for call (issue 24).
 */
import { isScopeMismatch, SCOPE_MISMATCH_READ_BYTES } from '../atlassian/scope-mismatch.js'
import type { TokenProvider } from '../tokens/token-provider.js'
import { readAnswerHead } from './answer-head.js'
import { translateUndiciError, type ForwardResponse, type Send, type SendWithGrant } from './upstream-send.js'

export type GrantSource = Pick<TokenProvider, 'grantFor' | 'invalidate' | 'scopeRefused'>

export function withFreshToken (send: SendWithGrant, tokens: GrantSource): Send {
  return async (request, target, body) => {
    const grant = await tokens.grantFor(request.integration)
    const answer = await send(request, target, body, grant)
    if (answer.statusCode !== 401) return answer
    const refused = await scopeRefusal(answer)
    if (refused.scopeMismatch) {
      if (!tokens.scopeRefused(request.integration, grant)) return refused.answer
    } else {
      tokens.invalidate(request.integration, grant)
    }
    if (!body.replayable) return refused.answer
    refused.answer.body.resume()
    const freshGrant = await tokens.grantFor(request.integration)
    const replayed = await send(request, target, body, freshGrant)
    if (!refused.scopeMismatch || replayed.statusCode !== 401) return replayed
    // The refresh was spent on a scope refusal: if the fresh token is refused the same way, the cooldown starts.
    const again = await scopeRefusal(replayed)
    if (again.scopeMismatch) tokens.scopeRefused(request.integration, freshGrant)
    return again.answer
  }
}

async function scopeRefusal (answer: ForwardResponse): Promise<{ scopeMismatch: boolean, answer: ForwardResponse }> {
  let read
  try {
    read = await readAnswerHead(answer.body, SCOPE_MISMATCH_READ_BYTES)
  } catch (error) {
    throw translateUndiciError(error)
  }
  return { scopeMismatch: isScopeMismatch(answer.statusCode, read.head), answer: { ...answer, body: read.body } }
}
