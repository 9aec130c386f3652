/**
 * A known path asked with a method it does not serve (TRACE, QUERY, PROPFIND...) is answered 405 with `Allow`
 * (RFC 9110 section 15.5.6), not 404 as for a path that does not exist. The routes are learned as they are added,
 * so the answer always matches what the app serves (and openapi.yaml, which a test keeps in step with the routes).
 * It is an onRequest hook, not part of the not-found handler: Fastify parses a body method's content type (QUERY)
 * before that handler runs and would answer 400 first. The hook is callback-style so a routed request (every proxied
 * call) pays one property read and no Promise.
 */
import type { FastifyInstance } from 'fastify'
import { MethodNotAllowedError } from '../errors.js'

interface KnownPath { pattern: RegExp, methods: Set<string> }

/** `/admin/integrations/:name/history` -> ^/admin/integrations/[^/]+/history$; `*` matches the rest of the path. */
function compile (url: string): RegExp {
  const source = url.split(/(:[A-Za-z0-9_]+|\*)/).map((part) => {
    if (part === '*') return '.*'
    if (part.startsWith(':')) return '[^/]+'
    return part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')
  }).join('')
  return new RegExp(`^${source}$`)
}

/** Call before any route is added: every route registered afterwards (in any plugin) is learned. */
export function answerMethodNotAllowed (app: FastifyInstance): void {
  const known = new Map<string, KnownPath>()
  app.addHook('onRoute', (route) => {
    let entry = known.get(route.url)
    if (entry === undefined) {
      entry = { pattern: compile(route.url), methods: new Set() }
      known.set(route.url, entry)
    }
    for (const method of [route.method].flat()) entry.methods.add(method.toUpperCase())
  })
  app.addHook('onRequest', (request, reply, done) => {
    if (!request.is404) { done(); return }
    const raw = request.raw.url ?? '/'
    const query = raw.indexOf('?')
    const path = query === -1 ? raw : raw.slice(0, query)
    const allowed = new Set<string>()
    for (const entry of known.values()) {
      if (entry.pattern.test(path)) for (const method of entry.methods) allowed.add(method)
    }
    if (allowed.size === 0) { done(); return }
    reply.header('allow', [...allowed].sort().join(', '))
    done(new MethodNotAllowedError(request.method.slice(0, 16), path.slice(0, 256)))
  })
}
