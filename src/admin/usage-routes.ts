/**
 * The usage view for operators: `GET /admin/usage` (JSON, admin only: see admin-auth.ts) and `GET /admin`, the page
 * that shows it. The page itself is served without authentication: it holds no data and asks for the token.
 */
import type { FastifyInstance } from 'fastify'
import type { UsageWindow } from '../usage/usage-window.js'
import { USAGE_PAGE_CSP, USAGE_PAGE_HTML } from './usage-page.js'

export function usageRoutes (window: UsageWindow): (app: FastifyInstance) => Promise<void> {
  return async (app) => {
    app.get('/admin/usage', { onRequest: async (request) => { await app.requireAdmin(request) } }, async (_request, reply) => {
      return reply.header('cache-control', 'no-store').send(window.snapshot())
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
