/**
 * The usage view for operators: `GET /admin/usage` (JSON totals), `GET /admin/ops` (JSON: calls per minute by
 * outcome, credentials, Atlassian headroom), both admin only (admin-auth.ts), and `GET /admin`, the page that shows
 * them. The page itself is served without authentication: it holds no data and asks for the token.
 */
import type { FastifyInstance } from 'fastify'
import { BadRequestError, StateConflictError } from '../errors.js'
import type { UsageTally } from '../usage/tally.js'
import { usageSnapshot } from '../usage/tally-views.js'
import { opsSnapshot, type OpsSources } from '../usage/ops-view.js'
import { loadOpsPage } from './ops-page/ops-page.js'
import { adminAnswerHeaders } from './admin-browser-guard.js'

/** This process's tally; in fleet mode also the whole fleet's, rebuilt from every pod's hour (`?scope=fleet`). */
export interface UsageView { tally: UsageTally, fleet?: () => Promise<object>, ops?: OpsSources }

/** A selection parameter: absent or empty means "all"; labels are config names, so 256 characters is plenty. */
function selected (query: Record<string, unknown>, name: string): string | undefined {
  const value = query[name]
  if (value === undefined || value === '') return undefined
  if (typeof value !== 'string' || value.length > 256) throw new BadRequestError(`${name} is one caller or integration name (at most 256 characters), given once`)
  return value
}

export function usageRoutes (view: UsageView): (app: FastifyInstance) => Promise<void> {
  const { tally, fleet, ops } = view
  return async (app) => {
    adminAnswerHeaders(app)
    const onRequest = async (request: Parameters<typeof app.requireAdmin>[0]): Promise<void> => {
      await app.requireAdmin(request)
    }
    app.get('/admin/usage', { onRequest }, async (request) => {
      const scope = (request.query as { scope?: unknown }).scope
      if (scope !== undefined && scope !== 'pod' && scope !== 'fleet') throw new BadRequestError('scope is "pod" (default) or "fleet"')
      if (scope === 'fleet' && fleet === undefined) throw new StateConflictError('scope=fleet needs fleet mode (the `fleet` section of the config)')
      // Atlassian's pools as this process last saw them (docs/points.md); the fleet view has the freshest reading of
      // any pod, and falls back to these when Redis cannot say.
      const pools = ops?.headroom.pools.rows() ?? []
      if (scope === 'fleet' && fleet !== undefined) return { pools, ...await fleet() }
      return { ...usageSnapshot(tally), pools }
    })

    if (ops !== undefined) {
      app.get('/admin/ops', { onRequest }, async (request) => {
        const query = request.query as Record<string, unknown>
        const snapshot = await opsSnapshot(ops, { caller: selected(query, 'caller'), integration: selected(query, 'integration') })
        return snapshot
      })
    }

    app.get('/admin', async (_request, reply) => {
      const page = await loadOpsPage()
      return reply
        .type('text/html; charset=utf-8')
        .header('content-security-policy', page.csp)
        .header('referrer-policy', 'no-referrer')
        .send(page.html)
    })
  }
}
