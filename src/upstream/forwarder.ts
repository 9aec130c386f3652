/**
 * Forwards one caller request to `{apiUrl}/ex/{product}/{cloudId}{path}?{query}` over the integration's own keep-alive
 * undici Pool (integration-pools.ts), streaming bodies both ways; the caller's upload has a size limit and idle/total
 * deadlines (caller-upload.ts). Upstream 401 means the token was revoked early: the cached token is dropped, a fresh
 * one minted, and the request replayed once when its body is replayable (none, or small enough to have been buffered).
 * Optionally (retry-policy.ts), a bodiless idempotent request answered 429/503 with Retry-After is tried again.
 */
import type { IncomingMessage } from 'node:http'
import type { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import { systemClock, type Clock } from '../clock.js'
import type { IntegrationConfig } from '../config/schema.js'
import { BodyTooLargeError, errorCode, isBrokerError, UpstreamTimeoutError, UpstreamUnavailableError } from '../errors.js'
import type { AccessGrant, TokenProvider } from '../tokens/token-provider.js'
import type { CancelSignal } from './caller-gone.js'
import { CallerUpload } from './caller-upload.js'
import { upstreamRequestHeaders } from './headers.js'
import { IntegrationPools } from './integration-pools.js'
import { DEFAULT_RETRY, retryDelayMs, sleepOn, type RetryOptions, type Sleep } from './retry-policy.js'

export interface ForwarderOptions {
  apiUrl: string
  tokens: TokenProvider
  /** Connections of each integration's own pool. */
  connections: number
  connectTimeoutMs: number
  headersTimeoutMs: number
  bodyTimeoutMs: number
  bodyLimitBytes: number
  replayBufferBytes: number
  /** The caller's upload fails with 408 after this long without a byte, or this long in all. */
  requestBodyIdleMs: number
  requestBodyTotalMs: number
  /** Tests and benchmarks point this at a local server (one dispatcher for all); production has a Pool per integration.
   */
  dispatcher?: Dispatcher
  /** Every answer Atlassian gives (retried and replayed ones too): rate-limit awareness and metrics read it. */
  onUpstreamResponse?: (integration: string, statusCode: number, headers: ForwardResponse['headers']) => void
  retry?: RetryOptions
  clock?: Clock
  /** Injectable for tests; defaults to a timer on `clock`. */
  sleep?: Sleep
  random?: () => number
}

export interface ForwardRequest {
  integration: string
  config: IntegrationConfig
  method: string
  path: string
  query: string
  incoming: IncomingMessage
  signal: CancelSignal
}

export interface ForwardResponse {
  statusCode: number
  headers: Record<string, string | string[] | undefined>
  body: Readable
  /** Bytes of the caller's body sent upstream. */
  bytesIn: () => number
}

const NO_BODY_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'DELETE'])

export class Forwarder {
  readonly #options: ForwarderOptions
  readonly #dispatcher: (integration: string) => Dispatcher
  readonly #pools: IntegrationPools | undefined
  readonly #basePath: string
  readonly #clock: Clock
  readonly #sleep: Sleep

  constructor (options: ForwarderOptions) {
    this.#options = options
    this.#clock = options.clock ?? systemClock
    this.#sleep = options.sleep ?? sleepOn(this.#clock)
    const apiUrl = new URL(options.apiUrl)
    this.#basePath = apiUrl.pathname.replace(/\/$/, '')
    const given = options.dispatcher
    this.#pools =
      given === undefined
        ? new IntegrationPools({
          origin: apiUrl.origin,
          connections: options.connections,
          connectTimeoutMs: options.connectTimeoutMs,
          headersTimeoutMs: options.headersTimeoutMs,
          bodyTimeoutMs: options.bodyTimeoutMs
        })
        : undefined
    const pools = this.#pools
    this.#dispatcher = pools === undefined ? () => given as Dispatcher : (integration) => pools.for(integration)
  }

  /** Integrations with an upstream pool of their own (none when a dispatcher was given). */
  pooledIntegrations (): string[] {
    return this.#pools?.names() ?? []
  }

  async forward (request: ForwardRequest): Promise<ForwardResponse> {
    const target = `${this.#basePath}/ex/${request.config.product}/${request.config.cloudId}${request.path}${request.query === '' ? '' : `?${request.query}`}`
    const body = await this.#prepareBody(request)
    const retry = this.#options.retry ?? DEFAULT_RETRY
    const startedAt = this.#clock.now()
    for (let tries = 1; ; tries++) {
      const answer = await this.#sendWithFreshToken(request, target, body)
      const now = this.#clock.now()
      const delayMs = retryDelayMs(retry, {
        method: request.method,
        hasBody: !body.replayable || (body.length ?? 0) > 0,
        triesSoFar: tries,
        statusCode: answer.statusCode,
        headers: answer.headers,
        elapsedMs: now - startedAt,
        now,
        random: this.#options.random ?? Math.random
      })
      if (delayMs === undefined) return answer
      answer.body.resume()
      await this.#sleep(delayMs, request.signal)
    }
  }

  async #sendWithFreshToken (request: ForwardRequest, target: string, body: PreparedBody): Promise<ForwardResponse> {
    let grant = await this.#options.tokens.grantFor(request.integration)
    let response = await this.#send(request, target, grant, body)
    if (response.statusCode === 401) {
      this.#options.tokens.invalidate(request.integration, grant)
      if (body.replayable) {
        response.body.resume()
        grant = await this.#options.tokens.grantFor(request.integration)
        response = await this.#send(request, target, grant, body)
      }
    }
    return { statusCode: response.statusCode, headers: response.headers, body: response.body, bytesIn: body.bytesSent }
  }

  async close (): Promise<void> {
    await this.#pools?.close()
  }

  async #send (
    request: ForwardRequest,
    path: string,
    grant: AccessGrant,
    body: PreparedBody
  ): Promise<Dispatcher.ResponseData> {
    const headers = upstreamRequestHeaders(request.incoming.headers, grant.authorization)
    if (body.length !== undefined) headers['content-length'] = String(body.length)
    try {
      const response = await this.#dispatcher(request.integration).request({
        path,
        method: request.method as Dispatcher.HttpMethod,
        headers,
        body: body.take(),
        // undici reads only what CancelSignal has (caller-gone.ts); its type names AbortSignal or EventEmitter.
        signal: request.signal as unknown as AbortSignal,
        headersTimeout: this.#options.headersTimeoutMs,
        bodyTimeout: this.#options.bodyTimeoutMs
      })
      this.#options.onUpstreamResponse?.(request.integration, response.statusCode, response.headers)
      return response
    } catch (error) {
      const failure = body.failure()
      if (failure !== undefined) throw failure
      throw translateUndiciError(error)
    }
  }

  /** Buffers small bodies so a 401 can be replayed; streams the rest through caller-upload.ts's limit and deadlines. */
  async #prepareBody (request: ForwardRequest): Promise<PreparedBody> {
    const { incoming } = request
    const declared =
      incoming.headers['content-length'] === undefined ? undefined : Number(incoming.headers['content-length'])
    const chunked = incoming.headers['transfer-encoding'] !== undefined
    const limit = this.#options.bodyLimitBytes
    if (declared !== undefined && declared > limit) throw new BodyTooLargeError(limit)
    if (!chunked && (declared === undefined || declared === 0)) {
      return staticBody(
        NO_BODY_METHODS.has(request.method) ? undefined : Buffer.alloc(0),
        declared === 0 && !NO_BODY_METHODS.has(request.method)
      )
    }
    const upload = new CallerUpload(incoming, {
      bodyLimitBytes: limit,
      idleMs: this.#options.requestBodyIdleMs,
      totalMs: this.#options.requestBodyTotalMs
    }, this.#clock)
    if (declared !== undefined && declared <= this.#options.replayBufferBytes) {
      return staticBody(await upload.collect(), true)
    }
    let taken = false
    return {
      replayable: false,
      length: declared,
      take: () => {
        if (taken) throw new Error('a streamed body cannot be sent twice')
        taken = true
        return upload.stream
      },
      bytesSent: () => upload.bytes(),
      failure: () => upload.failure()
    }
  }
}

interface PreparedBody {
  replayable: boolean
  length: number | undefined
  take: () => Buffer | Readable | undefined
  bytesSent: () => number
  /** The caller-side limit or deadline that cut the body off: the request's answer. */
  failure: () => Error | undefined
}

function staticBody (buffer: Buffer | undefined, sendEmpty: boolean): PreparedBody {
  const payload = buffer !== undefined && (buffer.length > 0 || sendEmpty) ? buffer : undefined
  return {
    replayable: true,
    length: payload?.length,
    take: () => payload,
    bytesSent: () => payload?.length ?? 0,
    failure: () => undefined
  }
}

/** undici's failures, translated once: timeouts are 504, anything else on the way is 502. */
export function translateUndiciError (error: unknown): Error {
  const code = errorCode(error)
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return new UpstreamTimeoutError({ cause: error })
  }
  if ((error as { name?: string }).name === 'AbortError' || code === 'UND_ERR_ABORTED') return error as Error
  if (isBrokerError(error) && typeof error.statusCode === 'number') return error
  return new UpstreamUnavailableError({ cause: error })
}
