/**
 * Forwards one caller request to `{apiUrl}/ex/{product}/{cloudId}{path}?{query}` over the integration's own keep-alive
 * undici Pool (integration-pools.ts), streaming bodies both ways; the caller's upload has a size limit and idle/total
 * deadlines (prepared-body.ts, caller-upload.ts).
 *
 * The one place the way upstream is composed: a plain send (upstream-send.ts, which parses each answer's rate-limit
 * headers once) inside the fresh-token layer (fresh-token-layer.ts: a 401 drops the cached token and replays once),
 * inside the retry layer when retry is on (retry-layer.ts, retry-policy.ts). The layers are plain functions built
 * once here, not undici interceptors: an interceptor wraps the dispatch handler, so each layer would add a handler
 * object per request; the grant is fetched asynchronously before each dispatch and replaced on a replay, which the
 * synchronous dispatch(handler) API does not model; and the retry wait must run on the injected clock and end with
 * the caller (caller-gone.ts). With retry off (the default) the retry layer is left out of the chain altogether.
 */
import type { Dispatcher } from 'undici'
import { systemClock, type Clock } from '../clock.js'
import type { TokenProvider } from '../tokens/token-provider.js'
import { withFreshToken } from './fresh-token-layer.js'
import { IntegrationPools } from './integration-pools.js'
import { prepareBody, type BodyLimits } from './prepared-body.js'
import { withRetry } from './retry-layer.js'
import { DEFAULT_RETRY, sleepOn, type RetryOptions, type Sleep } from './retry-policy.js'
import { createUpstreamSend, type ForwardRequest, type ForwardResponse, type Send, type UpstreamResponseHook } from './upstream-send.js'

export type { ForwardRequest, ForwardResponse, UpstreamResponseHook } from './upstream-send.js'

export interface ForwarderOptions extends BodyLimits {
  apiUrl: string
  tokens: TokenProvider
  /** Connections of each integration's own pool. */
  connections: number
  connectTimeoutMs: number
  headersTimeoutMs: number
  bodyTimeoutMs: number
  /** Tests and benchmarks point this at a local server (one dispatcher for all); production has a Pool per integration.
   */
  dispatcher?: Dispatcher
  /** Every answer Atlassian gives (retried and replayed ones too), its rate-limit headers parsed once: the quota
   * hold, the headroom and the metrics read it. */
  onUpstreamResponse?: UpstreamResponseHook
  retry?: RetryOptions
  clock?: Clock
  /** Injectable for tests; defaults to a timer on `clock`. */
  sleep?: Sleep
  random?: () => number
}

export class Forwarder {
  readonly #pools: IntegrationPools | undefined
  readonly #basePath: string
  readonly #limits: BodyLimits
  readonly #clock: Clock
  /** The composed layers; built once, so a request allocates no closures for them. */
  readonly #send: Send

  constructor (options: ForwarderOptions) {
    const clock = options.clock ?? systemClock
    this.#clock = clock
    const apiUrl = new URL(options.apiUrl)
    this.#basePath = apiUrl.pathname.replace(/\/$/, '')
    this.#limits = {
      bodyLimitBytes: options.bodyLimitBytes,
      replayBufferBytes: options.replayBufferBytes,
      requestBodyIdleMs: options.requestBodyIdleMs,
      requestBodyTotalMs: options.requestBodyTotalMs,
      minUploadBytesPerSecond: options.minUploadBytesPerSecond
    }
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
    const send = createUpstreamSend({
      dispatcher: pools === undefined ? () => given as Dispatcher : (integration) => pools.for(integration),
      headersTimeoutMs: options.headersTimeoutMs,
      bodyTimeoutMs: options.bodyTimeoutMs,
      clock,
      onUpstreamResponse: options.onUpstreamResponse
    })
    const withToken = withFreshToken(send, options.tokens)
    const retry = options.retry ?? DEFAULT_RETRY
    this.#send = retry.enabled
      ? withRetry(withToken, {
        retry,
        clock,
        sleep: options.sleep ?? sleepOn(clock),
        random: options.random ?? Math.random
      })
      : withToken
  }

  /** Integrations with an upstream pool of their own (none when a dispatcher was given). */
  pooledIntegrations (): string[] {
    return this.#pools?.names() ?? []
  }

  async forward (request: ForwardRequest): Promise<ForwardResponse> {
    const target = `${this.#basePath}/ex/${request.config.product}/${request.config.cloudId}${request.path}${request.query === '' ? '' : `?${request.query}`}`
    let body = prepareBody(request.incoming, request.method, this.#limits, this.#clock)
    if (body instanceof Promise) body = await body
    return await this.#send(request, target, body)
  }

  async close (): Promise<void> {
    await this.#pools?.close()
  }
}
