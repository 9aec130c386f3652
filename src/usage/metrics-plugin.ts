/**
 * `GET {metrics.path}` (default /metrics): the Prometheus text exposition. Unauthenticated like /healthz: the
 * sidecar listens on loopback and Prometheus scrapes it there; the metrics hold counts and names, never a secret.
 */
import type { FastifyInstance } from 'fastify'
import type { BrokerMetrics } from './metrics.js'

export function metricsPlugin (path: string, metrics: BrokerMetrics): (app: FastifyInstance) => Promise<void> {
  return async (app) => {
    app.get(path, async (_request, reply) => reply.type(metrics.contentType).send(await metrics.text()))
  }
}
