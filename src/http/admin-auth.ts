/**
 * Who may use the operator API. Never open by default: a request needs a caller JWT whose role claim
 * (`callers.admin.roleClaim`, default `roles`) holds `callers.admin.role`; without a configured role every admin
 * route answers 403 and says how to enable it. Requests arriving on the separate admin listener
 * (`callers.admin.listen`, loopback or unix socket) are trusted by where they come from.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { BrokerConfig } from '../config/schema.js'
import { AdminForbiddenError } from '../errors.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler for admin routes: resolves to the admin's name (caller id, or "admin-listener"). */
    requireAdmin: (request: FastifyRequest) => Promise<string>
  }
}

export interface AdminAuthOptions {
  admin: BrokerConfig['callers']['admin']
  /** True on the dedicated admin listener, where reaching the socket is the credential. */
  trustedListener?: boolean
}

export function hasRole (claims: Readonly<Record<string, unknown>>, claim: string, role: string): boolean {
  const value = claims[claim]
  if (Array.isArray(value)) return value.includes(role)
  if (typeof value === 'string') return value.split(/[\s,]+/).includes(role)
  return false
}

async function adminAuth (app: FastifyInstance, options: AdminAuthOptions): Promise<void> {
  const { admin } = options
  app.decorate('requireAdmin', async (request: FastifyRequest): Promise<string> => {
    if (options.trustedListener === true) return 'admin-listener'
    if (admin.role === undefined) {
      throw new AdminForbiddenError('(the admin API is off: set callers.admin.role, or callers.admin.listen for a local admin listener)')
    }
    const caller = await app.authenticateCaller(request)
    if (!hasRole(caller.claims, admin.roleClaim, admin.role)) throw new AdminForbiddenError(`"${admin.role}" in claim "${admin.roleClaim}"`)
    return caller.id
  })
}

export default fp(adminAuth, { name: 'broker-admin-auth', dependencies: ['broker-callers'] })
