/**
 * The plain send: one request to Atlassian with a given access grant, nothing more. Every answer's rate-limit
 * headers are parsed here, once (src/atlassian/rate-limit-headers.ts), and the parsed object travels with the answer:
 * the retry layer, the quota hold, the headroom, the metrics and the proxy's call record all read it instead of the
 * raw headers. Retry and fresh-token are layers around this (retry-layer.ts, fresh-token-layer.ts), composed in
 * forwarder.ts.
 */
import type { IncomingHttpHeaders } from 'node:http'
import type { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import { parseRateLimitHeaders, type UpstreamRateLimit } from '../atlassian/rate-limit-headers.js'
import type { Clock } from '../clock.js'
import type { IntegrationConfig } from '../config/schema.js'
import { errorCode, isBrokerError, UpstreamTimeoutError, UpstreamUnavailableError } from '../errors.js'
import type { AccessGrant } from '../tokens/token-provider.js'
import type { CancelSignal } from '../cancel-signal.js'
import { upstreamRequestHeaders } from './headers.js'
import type { PreparedBody } from './prepared-body.js'

/** What the forwarder reads of a caller's request: its headers and its body as a stream. A proxied call's
 * IncomingMessage is one; an MCP tool's REST call builds one (src/upstream/caller-call.ts). */
export type CallerBody = Readable & { headers: IncomingHttpHeaders }

export interface ForwardRequest {
  integration: string
  config: IntegrationConfig
  method: string
  path: string
  query: string
  incoming: CallerBody
  signal: CancelSignal
}

export interface ForwardResponse {
  statusCode: number
  headers: Record<string, string | string[] | undefined>
  body: Readable
  /** The answer's rate-limit headers, parsed once when the answer arrived. */
  rateLimit: UpstreamRateLimit
  /** Bytes of the caller's body sent upstream. */
  bytesIn: () => number
}

/** Every answer Atlassian gives (retried and replayed ones too), with its headers parsed once. */
export type UpstreamResponseHook = (integration: string, statusCode: number, rateLimit: UpstreamRateLimit) => void

/** A layer's view of the way upstream: the request, its full target path and its prepared body. */
export type Send = (request: ForwardRequest, target: string, body: PreparedBody) => Promise<ForwardResponse>
/** The innermost send, which is told which access grant to use. */
export type SendWithGrant = (
  request: ForwardRequest,
  target: string,
  body: PreparedBody,
  grant: AccessGrant
) => Promise<ForwardResponse>

export interface UpstreamSendOptions {
  dispatcher: (integration: string) => Dispatcher
  headersTimeoutMs: number
  bodyTimeoutMs: number
  clock: Clock
  onUpstreamResponse: UpstreamResponseHook | undefined
}

export function createUpstreamSend (options: UpstreamSendOptions): SendWithGrant {
  const { dispatcher, headersTimeoutMs, bodyTimeoutMs, clock, onUpstreamResponse } = options
  return async (request, target, body, grant) => {
    const headers = upstreamRequestHeaders(request.incoming.headers, grant.authorization)
    if (body.length !== undefined) headers['content-length'] = String(body.length)
    let response: Dispatcher.ResponseData
    try {
      response = await dispatcher(request.integration).request({
        path: target,
        method: request.method as Dispatcher.HttpMethod,
        headers,
        body: body.take(),
        // undici reads only what CancelSignal has (src/cancel-signal.ts); its type names AbortSignal or EventEmitter.
        signal: request.signal as unknown as AbortSignal,
        headersTimeout: headersTimeoutMs,
        bodyTimeout: bodyTimeoutMs
      })
    } catch (error) {
      const failure = body.failure()
      if (failure !== undefined) throw failure
      throw translateUndiciError(error)
    }
    const rateLimit = parseRateLimitHeaders(response.headers, clock.now())
    onUpstreamResponse?.(request.integration, response.statusCode, rateLimit)
    const { statusCode, headers: answerHeaders, body: answerBody } = response
    return { statusCode, headers: answerHeaders, body: answerBody, rateLimit, bytesIn: body.bytesSent }
  }
}

/** undici's failures, translated once (the request here, a 401's body read in fresh-token-layer.ts): timeouts are 504,
 * anything else on the way is 502. */
export function translateUndiciError (error: unknown): Error {
  const code = errorCode(error)
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return new UpstreamTimeoutError({ cause: error })
  }
  if ((error as { name?: string }).name === 'AbortError' || code === 'UND_ERR_ABORTED') return error as Error
  if (isBrokerError(error) && typeof error.statusCode === 'number') return error
  return new UpstreamUnavailableError({ cause: error })
}
