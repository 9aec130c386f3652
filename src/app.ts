/**
 * buildApp(config, deps): the broker as a Fastify instance. It never listens (server.ts does), so tests drive it
 * through `inject` or on port 0.
 */
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import type { Duplex } from 'node:stream'
import Fastify, { LogController, type FastifyError, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import adminAuth from './admin/admin-auth.js'
import callerAuth from './callers/caller-auth.js'
import type { CallerKeys } from './callers/caller-keys.js'
import { RefusalSampler } from './callers/refusal-sampler.js'
import type { BrokerConfig } from './config.js'
import { BadRequestError, HeadersTooLargeError } from './errors.js'
import type { Policy } from './policy/policy.js'
import { answerWithProblems, toProblem } from './problem.js'
import type { Readiness } from './readiness.js'
import { lazyChildLogger } from './lazy-child-logger.js'
import { lazySchemaCompilers } from './lazy-schema-compilers.js'
import { REDACT_PATHS } from './logger.js'
import type { Forwarder } from './upstream/forwarder.js'
import proxyPlugin, { type ProxyPluginOptions } from './upstream/proxy-plugin.js'
import type { ProxiedCall, UsageSink } from './usage/proxied-call.js'

export interface AppDeps {
  logger: Logger
  callerKeys: CallerKeys
  policy: Policy
  /** The loaded config's hash, load time and reload count, shown in the /readyz body. */
  configState?: () => { hash: string, loadedAt: string, reloads: number }
  forwarder: Forwarder
  readiness: Readiness
  usage?: UsageSink
  admit?: ProxyPluginOptions['admit']
  /** Sees every route as it is added (the openapi.yaml consistency test uses it). */
  onRoute?: (route: { method: string | string[], url: string }) => void
  /** Extra encapsulated plugins (admin API, metrics) registered after the core routes. */
  plugins?: Array<(app: FastifyInstance) => Promise<void>>
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/

export async function buildApp (config: BrokerConfig, deps: AppDeps): Promise<FastifyInstance> {
  const QUIET_ROUTES = new Set(['/healthz', '/readyz', config.metrics.path])
  const refusals = new RefusalSampler({ perMinute: config.logging.refusalsPerMinute, logger: deps.logger })
  const app = Fastify({
    loggerInstance: deps.logger,
    // One line per request is written by the onResponse hook below, with the caller and integration in it.
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: lazyChildLogger,
    routerOptions: { maxParamLength: 256 },
    schemaController: lazySchemaCompilers,
    bodyLimit: 1_048_576,
    requestIdHeader: false,
    genReqId: (request) => {
      const given = request.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    },
    // Node answers 431 itself past this limit (config.limits.headerBytes).
    serverFactory: (handler) => createServer({ maxHeaderSize: config.limits.headerBytes }, handler),
    // Requests Node's parser refuses (smuggling shapes, bad framing, headers over the limit) get the broker's problem body.
    clientErrorHandler: (error, socket) => { answerClientError(error, socket, deps.logger, refusals) },
    // So do targets the router cannot decode ("%C0%AE"), which Fastify would otherwise answer with its own FST_ERR_BAD_URL body.
    frameworkErrors: (error, request, reply) => {
      const { body } = toProblem(error, request.id)
      if (refusals.admit()) request.log.info({ code: error.code, status: body.statusCode }, 'request target refused by the router')
      const text = JSON.stringify(body)
      reply.raw.writeHead(body.statusCode, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'x-request-id': request.id })
      reply.raw.end(text)
    },
    return503OnClosing: true,
    forceCloseConnections: 'idle'
  })

  if (deps.onRoute) app.addHook('onRoute', deps.onRoute)

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })

  answerWithProblems(app as unknown as FastifyInstance, { onProblem: (request, code) => { if (request.proxy !== null) request.proxy.errorCode = code } })

  // The one line per request. It holds only scalar fields picked below, never a header, body or nested object, so it
  // is redacted by the top-level secret names alone: the full list's `*.` paths make pino run every field of every
  // line through a wildcard redactor, about a tenth of a proxied call's CPU in the bench profile (bench/README.md).
  const accessLog = deps.logger.child({}, { redact: { paths: REDACT_PATHS.filter((path) => !/[.*[]/.test(path)), censor: '[redacted]' } })
  app.addHook('onResponse', async (request, reply) => {
    const proxy = request.proxy
    // Anyone can cause a 4xx without a valid token (401, 404 on made-up routes): those lines are sampled
    // (callers/refusal-sampler.ts); usage and metrics still see each one.
    const unauthenticatedRefusal = reply.statusCode >= 400 && reply.statusCode < 500 && request.caller === null
    const logged = !unauthenticatedRefusal || refusals.admit()
    if (proxy === null) {
      const route = request.routeOptions.url ?? ''
      if (logged && !QUIET_ROUTES.has(route)) accessLog.info({ reqId: request.id, method: request.method, route, status: reply.statusCode, durationMs: round(reply.elapsedTime) }, 'request')
      return
    }
    const call: ProxiedCall = {
      requestId: request.id,
      caller: request.caller?.id,
      integration: proxy.integration,
      method: request.method,
      path: proxy.path,
      statusCode: reply.statusCode,
      errorCode: proxy.errorCode,
      durationMs: reply.elapsedTime,
      upstreamStatus: proxy.upstreamStatus,
      upstreamMs: proxy.upstreamMs,
      upstreamRequestId: proxy.upstreamRequestId,
      rateLimitReason: proxy.rateLimitReason,
      bytesIn: proxy.bytesIn(),
      bytesOut: proxy.bytesOut,
      at: Date.now()
    }
    if (logged) accessLog.info({
      reqId: request.id,
      caller: call.caller,
      integration: call.integration,
      method: call.method,
      path: call.path,
      status: call.statusCode,
      upstreamStatus: call.upstreamStatus,
      upstreamRequestId: call.upstreamRequestId,
      durationMs: round(call.durationMs)
    }, 'proxied')
    deps.usage?.record(call)
  })

  app.get('/healthz', async () => ({ status: 'ok' }))
  app.get('/readyz', async (_request, reply) => {
    const report = await deps.readiness.report()
    return reply.code(report.ready ? 200 : 503).send({ status: report.ready ? 'ready' : 'not ready', store: report.store, ...(report.fleet ? { fleet: report.fleet } : {}), ...(deps.configState ? { config: deps.configState() } : {}) })
  })

  await app.register(callerAuth, { config: config.callers.jwt, keys: deps.callerKeys })
  await app.register(adminAuth, { admin: config.callers.admin })
  await app.register(proxyPlugin, {
    integrations: config.integrations,
    policy: deps.policy,
    forwarder: deps.forwarder,
    ...(deps.admit ? { admit: deps.admit } : {})
  })
  for (const plugin of deps.plugins ?? []) await app.register(plugin)
  return app as unknown as FastifyInstance
}

/**
 * Answers a request Node's HTTP parser refused before Fastify saw it: both Content-Length and Transfer-Encoding,
 * duplicated Content-Length, obs-fold, bare CR or LF, a Transfer-Encoding not ending in chunked (RFC 9112 sections
 * 6.1 and 6.3 require a 400 and closing the connection), or headers past `limits.headerBytes` (431). Only the parser's
 * error code is logged: the error's `rawPacket` holds the caller's bytes, Authorization header included.
 */
function answerClientError (error: NodeJS.ErrnoException, socket: Duplex, logger: Logger, refusals: RefusalSampler): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const requestId = randomUUID()
  const refused = error.code === 'HPE_HEADER_OVERFLOW'
    ? new HeadersTooLargeError()
    : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? Object.assign(new BadRequestError('the request was not received in time'), { statusCode: 408 })
      : new BadRequestError(`malformed HTTP request (${String(error.code ?? 'parse error').replace(/[^A-Z0-9_]/gi, '').slice(0, 48)})`)
  const { body } = toProblem(refused as FastifyError, requestId)
  if (refusals.admit()) logger.info({ code: error.code, status: body.statusCode, requestId }, 'malformed request refused by the HTTP parser')
  if (socket.writable) {
    const text = JSON.stringify(body)
    socket.write(`HTTP/1.1 ${body.statusCode} ${body.error}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(text)}\r\nX-Request-Id: ${requestId}\r\nConnection: close\r\n\r\n${text}`)
  }
  socket.destroy()
}

function round (ms: number): number {
  return Math.round(ms * 100) / 100
}
