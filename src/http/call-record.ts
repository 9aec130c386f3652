/**
 * The one record per request, made when the answer has ended (Fastify's `onResponse`): a proxied call becomes one
 * ProxiedCall for usage (metrics, usage window, call audit) and one `proxied` log line; any other route one `request`
 * line (health, readiness and metrics scrapes stay quiet). Anyone can cause a 4xx without a valid token (401, 404 on
 * made-up routes): those lines are sampled by `logRefusal` (callers/refusal-sampler.ts); usage still sees each one.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import { accessLine } from '../logger.js'
import { proxiedCall, type UsageSink } from '../usage/proxied-call.js'

export interface CallRecordOptions {
  logger: Logger
  usage?: UsageSink | undefined
  /** Routes that get no log line (probes, scrapes). */
  quietRoutes: ReadonlySet<string>
  /** Whether this unauthenticated refusal may be logged (the sampler's budget). */
  logRefusal: () => boolean
  /** When each call is recorded (`ProxiedCall.at`): the broker's one clock. */
  now: () => number
}

const PROXIED_FIELDS = [
  'reqId', 'caller', 'integration', 'method', 'path', 'status', 'upstreamStatus', 'upstreamRequestId', 'durationMs'
] as const
const REQUEST_FIELDS = ['reqId', 'method', 'route', 'status', 'durationMs'] as const

export function recordCalls (app: FastifyInstance, options: CallRecordOptions): void {
  // One line per request of scalar fields only, never a header or body: built as a string by the logger's owner
  // (src/logger.ts), the proxied call's line on the hot path and every other route's alike.
  const proxiedLine = accessLine(options.logger, PROXIED_FIELDS, 'proxied')
  const requestLine = accessLine(options.logger, REQUEST_FIELDS, 'request')
  // Callback-style: a hook that returns no Promise costs none, on every request.
  app.addHook('onResponse', (request, reply, done) => {
    record(request, reply)
    done()
  })
  function record (request: FastifyRequest, reply: FastifyReply): void {
    const unauthenticatedRefusal = reply.statusCode >= 400 && reply.statusCode < 500 && request.caller === null
    const logged = !unauthenticatedRefusal || options.logRefusal()
    const proxy = request.proxy
    if (proxy === null) {
      const route = request.routeOptions.url ?? ''
      if (logged && !options.quietRoutes.has(route)) {
        requestLine([request.id, request.method, route, reply.statusCode, round(reply.elapsedTime)])
      }
      return
    }
    const call = proxiedCall(proxy, {
      requestId: request.id,
      caller: request.caller?.id,
      method: request.method,
      statusCode: reply.statusCode,
      durationMs: reply.elapsedTime,
      at: options.now()
    })
    if (logged) {
      proxiedLine([
        request.id,
        call.caller,
        call.integration,
        call.method,
        call.path,
        call.statusCode,
        call.upstreamStatus,
        call.upstreamRequestId,
        round(call.durationMs)
      ])
    }
    options.usage?.record(call)
  }
}

function round (ms: number): number {
  return Math.round(ms * 100) / 100
}
