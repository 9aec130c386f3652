/**
 * `GET {metrics.path}` (default /metrics): the Prometheus text exposition. Open by default like /healthz (the sidecar
 * listens on loopback and the metrics hold counts and names, never a secret). Two ways to close it further:
 * `metrics.listen` serves it on a listener of its own instead (metrics-listener.ts), so the port a scraper may reach
 * carries no /proxy route; `metrics.bearerTokenFile` asks every scrape for `Authorization: Bearer <that file's text>`
 * (Prometheus `authorization.credentials_file`), the file re-read at each scrape so it can be rotated in place.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { CallerUnauthenticatedError, NotReadyError } from '../errors.js'
import type { BrokerConfig } from '../config/schema.js'
import type { BrokerMetrics } from '../usage/metrics.js'

/** Like every builder: the config (here the section it reads) first, then the collaborators built from it. */
export function metricsPlugin (config: Pick<BrokerConfig, 'metrics'>, deps: { metrics: BrokerMetrics }): (app: FastifyInstance) => Promise<void> {
  const { path, bearerTokenFile } = config.metrics
  const { metrics } = deps
  return async (app) => {
    const onRequest = bearerTokenFile === undefined ? [] : [checkBearer(bearerTokenFile)]
    app.get(path, { onRequest }, async (_request, reply) => reply.type(metrics.contentType).send(await metrics.text()))
  }
}

const digest = (text: string): Buffer => createHash('sha256').update(text).digest()

function checkBearer (file: string): (request: FastifyRequest) => Promise<void> {
  return async (request) => {
    let expected: string
    try {
      expected = (await readFile(file, 'utf8')).trim()
    } catch (error) {
      throw new NotReadyError({ cause: new Error(`metrics.bearerTokenFile cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`) })
    }
    if (expected === '') throw new NotReadyError({ cause: new Error('metrics.bearerTokenFile is empty') })
    const given = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1]
    // Digests compared in constant time: neither the length nor a prefix of the token leaks through timing.
    if (given === undefined || !timingSafeEqual(digest(given), digest(expected))) {
      throw new CallerUnauthenticatedError('the metrics need "Authorization: Bearer <the metrics token>"')
    }
  }
}
