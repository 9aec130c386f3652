/**
 * buildApp(config, deps): the broker as a Fastify instance. It only wires: problem bodies come from problem.ts, the
 * per-request record and log line from http/call-record.ts, the routes from their plugins. It never listens
 * (server.ts does), so tests drive it through `inject` or on port 0.
 */
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import adminAuth from './admin-auth.js'
import callerAuth from './caller-auth.js'
import type { CallerKeys } from '../callers/caller-keys.js'
import { RefusalSampler } from '../callers/refusal-sampler.js'
import { systemClock, type Clock } from '../clock.js'
import type { BrokerConfig } from '../config/schema.js'
import type { Admit } from '../limits/admission.js'
import type { Policy } from '../policy/policy.js'
import { answerClientError, answerFrameworkError, answerWithProblems } from './problem.js'
import type { Readiness } from './readiness.js'
import { lazyChildLogger } from './lazy-child-logger.js'
import { answerMethodNotAllowed } from './method-not-allowed.js'
import { lazySchemaCompilers } from './lazy-schema-compilers.js'
import type { Forwarder } from '../upstream/forwarder.js'
import proxyPlugin from './proxy-routes.js'
import { recordCalls } from './call-record.js'
import type { UsageSink } from '../usage/proxied-call.js'

export interface AppDeps {
  logger: Logger
  /** The broker's one clock (src/clock.ts); the system clock when not given. */
  clock?: Clock
  callerKeys: CallerKeys
  policy: Policy
  /** The loaded config's hash, load time and reload count, shown in the /readyz body. */
  configState?: () => { hash: string, loadedAt: string, reloads: number }
  forwarder: Forwarder
  readiness: Readiness
  usage?: UsageSink
  admit?: Admit
  /** Sees every route as it is added (the openapi.yaml consistency test uses it). */
  onRoute?: (route: { method: string | string[], url: string }) => void
  /** Extra encapsulated plugins (admin API, metrics) registered after the core routes. */
  plugins?: Array<(app: FastifyInstance) => Promise<void>>
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/

export async function buildApp (config: BrokerConfig, deps: AppDeps): Promise<FastifyInstance> {
  const clock = deps.clock ?? systemClock
  const refusals = new RefusalSampler({
    perMinute: config.logging.refusalsPerMinute, logger: deps.logger, now: () => clock.now()
  })
  const logRefusal = (): boolean => refusals.admit()
  // Typed as Fastify's base logger (which pino's Logger is), so the app is a plain FastifyInstance with no cast.
  const loggerInstance: FastifyBaseLogger = deps.logger
  const app = Fastify({
    loggerInstance,
    // One line per request is written by http/call-record.ts, with the caller and integration in it.
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
    // Requests Node's parser refuses, and targets the router cannot decode, get the broker's problem body too.
    clientErrorHandler: (error, socket) => { answerClientError(error, socket, deps.logger, logRefusal) },
    frameworkErrors: (error, request, reply) => { answerFrameworkError(error, request, reply, logRefusal) },
    return503OnClosing: true,
    forceCloseConnections: 'idle'
  })

  if (deps.onRoute) app.addHook('onRoute', deps.onRoute)
  answerMethodNotAllowed(app)
  // Callback-style: on every request, a hook that returns no Promise costs none. Set on the raw response, where every
  // writeHead (Fastify's own, the proxy's) merges it and a header of that name passed to writeHead wins.
  app.addHook('onRequest', (request, reply, done) => { reply.raw.setHeader('x-request-id', request.id); done() })
  answerWithProblems(app, {
    onProblem: (request, code) => {
      if (request.proxy !== null) request.proxy.errorCode = code
    }
  })
  recordCalls(app, { logger: deps.logger, usage: deps.usage, quietRoutes: new Set(['/healthz', '/readyz', config.metrics.path]), logRefusal, now: () => clock.now() })

  app.get('/healthz', async () => ({ status: 'ok' }))
  app.get('/readyz', async (_request, reply) => {
    const report = await deps.readiness.report()
    return reply.code(report.ready ? 200 : 503).send({ status: report.ready ? 'ready' : 'not ready', store: report.store, ...(report.fleet ? { fleet: report.fleet } : {}), ...(deps.configState ? { config: deps.configState() } : {}) })
  })

  await app.register(callerAuth, { config: config.callers.jwt, keys: deps.callerKeys, clock })
  await app.register(adminAuth, { admin: config.callers.admin })
  await app.register(proxyPlugin, {
    integrations: config.integrations,
    policy: deps.policy,
    forwarder: deps.forwarder,
    admit: deps.admit
  })
  for (const plugin of deps.plugins ?? []) await app.register(plugin)
  return app
}
