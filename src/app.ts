/**
 * buildApp(config, deps): the broker as a Fastify instance. It never listens (server.ts does), so tests drive it
 * through `inject` or on port 0.
 */
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import Fastify, { LogController, type FastifyError, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import adminAuth from './admin/admin-auth.js'
import callerAuth from './callers/caller-auth.js'
import type { CallerKeys } from './callers/caller-keys.js'
import type { BrokerConfig } from './config.js'
import { RouteNotFoundError } from './errors.js'
import type { Policy } from './policy/policy.js'
import { toProblem } from './problem.js'
import type { Readiness } from './readiness.js'
import type { Forwarder } from './upstream/forwarder.js'
import proxyPlugin, { type ProxyPluginOptions } from './upstream/proxy-plugin.js'
import type { ProxiedCall, UsageSink } from './usage/proxied-call.js'

export interface AppDeps {
  logger: Logger
  callerKeys: CallerKeys
  policy: Policy
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
  const app = Fastify({
    loggerInstance: deps.logger,
    // One line per request is written by the onResponse hook below, with the caller and integration in it.
    logController: new LogController({ disableRequestLogging: true }),
    routerOptions: { maxParamLength: 256 },
    bodyLimit: 1_048_576,
    requestIdHeader: false,
    genReqId: (request) => {
      const given = request.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    },
    // Node answers 431 itself past this limit (config.limits.headerBytes).
    serverFactory: (handler) => createServer({ maxHeaderSize: config.limits.headerBytes }, handler),
    return503OnClosing: true,
    forceCloseConnections: 'idle'
  })

  if (deps.onRoute) app.addHook('onRoute', deps.onRoute)

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })

  app.setErrorHandler((error: FastifyError & { retryAfterSeconds?: number }, request, reply) => {
    const problem = toProblem(error, request.id)
    if (request.proxy !== null) request.proxy.errorCode = problem.body.code
    if (problem.unexpected) request.log.error({ err: error }, 'unexpected error')
    else if (problem.body.statusCode >= 500) request.log.warn({ code: problem.body.code, cause: (error.cause as Error | undefined)?.message }, problem.body.message)
    if (problem.retryAfterSeconds !== undefined) reply.header('retry-after', String(problem.retryAfterSeconds))
    if (problem.body.statusCode === 401) reply.header('www-authenticate', 'Bearer realm="atlassian-broker"')
    void reply.code(problem.body.statusCode).type('application/json; charset=utf-8').send(problem.body)
  })

  app.setNotFoundHandler((request) => {
    throw new RouteNotFoundError(request.method, (request.raw.url ?? '').split('?')[0]?.slice(0, 128) ?? '')
  })

  app.addHook('onResponse', async (request, reply) => {
    const proxy = request.proxy
    if (proxy === null) {
      const route = request.routeOptions.url ?? ''
      if (!QUIET_ROUTES.has(route)) request.log.info({ method: request.method, route, status: reply.statusCode, durationMs: round(reply.elapsedTime) }, 'request')
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
    request.log.info({
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
    return reply.code(report.ready ? 200 : 503).send({ status: report.ready ? 'ready' : 'not ready', store: report.store })
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

function round (ms: number): number {
  return Math.round(ms * 100) / 100
}
