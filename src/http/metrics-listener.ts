/**
 * The optional metrics listener (`metrics.listen`): a second, small Fastify instance serving only the metrics, /healthz
 * and /readyz. With it, the address Prometheus and kubelet's probes must reach (the pod IP) carries no /proxy route,
 * and the main listener can stay on loopback, reachable only from inside the pod (deploy/kubernetes).
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { BrokerConfig } from '../config/schema.js'
import { answerWithProblems } from './problem.js'
import { lazySchemaCompilers } from './lazy-schema-compilers.js'
import type { Readiness } from './readiness.js'
import type { BrokerMetrics } from '../usage/metrics.js'
import { metricsPlugin } from './metrics-routes.js'

export async function buildMetricsListener (
  config: BrokerConfig,
  deps: { logger: Logger, metrics: BrokerMetrics, readiness: Readiness }
): Promise<FastifyInstance> {
  const loggerInstance: FastifyBaseLogger = deps.logger.child({ listener: 'metrics' })
  const app = Fastify({
    loggerInstance,
    // Scrapes and probes every few seconds: not worth a log line each.
    logController: new LogController({ disableRequestLogging: true }),
    schemaController: lazySchemaCompilers,
    forceCloseConnections: true
  })
  answerWithProblems(app)
  app.get('/healthz', async () => ({ status: 'ok' }))
  app.get('/readyz', async (_request, reply) => {
    const report = await deps.readiness.report()
    return reply
      .code(report.ready ? 200 : 503)
      .send({ status: report.ready ? 'ready' : 'not ready', store: report.store })
  })
  await app.register(metricsPlugin(config, { metrics: deps.metrics }))
  return app
}
