/**
 * The fresh-token layer around a send: it asks the token provider for the integration's grant, and when Atlassian
 * answers 401 (a token revoked before its expiry, or an API token rotated elsewhere) it drops that grant from the
 * cache, so the next call mints a fresh one, and replays the request once with a fresh grant when its body is
 * replayable (none, or small enough to have been buffered: prepared-body.ts). A streamed body has gone and cannot be
 * sent again: the 401 goes back to the caller.
 */
import type { TokenProvider } from '../tokens/token-provider.js'
import type { Send, SendWithGrant } from './upstream-send.js'

export type GrantSource = Pick<TokenProvider, 'grantFor' | 'invalidate'>

export function withFreshToken (send: SendWithGrant, tokens: GrantSource): Send {
  return async (request, target, body) => {
    const grant = await tokens.grantFor(request.integration)
    const answer = await send(request, target, body, grant)
    if (answer.statusCode !== 401) return answer
    tokens.invalidate(request.integration, grant)
    if (!body.replayable) return answer
    answer.body.resume()
    return await send(request, target, body, await tokens.grantFor(request.integration))
  }
}
