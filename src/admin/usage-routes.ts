/**
 * The usage view for operators: `GET /admin/usage` (JSON, admin only: see admin-auth.ts) and `GET /admin`, the page
 * that shows it. The page itself is served without authentication: it holds no data and asks for the token.
 */
import type { FastifyInstance } from 'fastify'
import { BadRequestError, StateConflictError } from '../errors.js'
import type { UsageWindow } from '../usage/usage-window.js'
import { USAGE_PAGE_CSP, USAGE_PAGE_HTML } from './usage-page.js'

/** This process's window; in fleet mode also the whole fleet's per-minute aggregates (`?scope=fleet`). */
export interface UsageView { window: UsageWindow, fleet?: () => Promise<object> }

export function usageRoutes (view: UsageView | UsageWindow): (app: FastifyInstance) => Promise<void> {
  const { window, fleet } = 'window' in view ? view : { window: view, fleet: undefined }
  return async (app) => {
    app.get('/admin/usage', { onRequest: async (request) => { await app.requireAdmin(request) } }, async (request, reply) => {
      const scope = (request.query as { scope?: unknown }).scope
      if (scope !== undefined && scope !== 'pod' && scope !== 'fleet') throw new BadRequestError('scope is "pod" (default) or "fleet"')
      if (scope === 'fleet' && fleet === undefined) throw new StateConflictError('scope=fleet needs fleet mode (the `fleet` section of the config)')
      return reply.header('cache-control', 'no-store').send(scope === 'fleet' && fleet !== undefined ? await fleet() : window.snapshot())
    })

    app.get('/admin', async (_request, reply) => {
      return reply
        .type('text/html; charset=utf-8')
        .header('content-security-policy', USAGE_PAGE_CSP)
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .header('cache-control', 'no-store')
        .send(USAGE_PAGE_HTML)
    })
  }
}
