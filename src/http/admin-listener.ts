/**
 * The dedicated admin listener (`callers.admin.listen`): a second, small Fastify instance serving only the admin
 * plugin, on a unix socket (mode 0600) or a loopback port. Reaching it is the credential, so no caller JWT is needed
 * (admin-auth's `trustedListener`); that is why it refuses any address other than loopback, and why it refuses
 * browsers' requests made for other origins (admin-browser-guard.ts). Every refused attempt at a change is audited,
 * also those no route answered (a wrong method: 405; a name past the router's limit: 414).
 */
import { chmod, lstat, unlink } from 'node:fs/promises'
import { isIP } from 'node:net'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Logger } from 'pino'
import type { BrokerConfig } from '../config/schema.js'
import type { AuditLog } from '../credentials/audit.js'
import { CallerUnauthenticatedError, type ProblemBody } from '../errors.js'
import { answerFrameworkError, answerWithProblems, toProblem } from './problem.js'
import adminAuth from './admin-auth.js'
import { adminAnswerHeaders, refuseBrowserRequests } from './admin-browser-guard.js'
import { mutatingActionOf } from './admin-routes.js'
import { answerMethodNotAllowed } from './method-not-allowed.js'

export type AdminListen = NonNullable<BrokerConfig['callers']['admin']['listen']>

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost'])

/** The admin listener accepts only loopback hosts or a unix socket; anything else is a configuration mistake. */
export function checkAdminListen (listen: AdminListen): void {
  if (listen.socket !== undefined) return
  if (listen.port === undefined) throw new Error('callers.admin.listen needs a port or a socket')
  const host = listen.host
  if (!(LOOPBACK.has(host) || (isIP(host) === 4 && host.startsWith('127.')))) {
    throw new Error(`callers.admin.listen.host must be a loopback address (127.0.0.1, ::1) or use a unix socket; "${host}" would open the admin API without authentication`)
  }
}

// adminAuth depends on the callers plugin; on this listener nobody presents a caller token.
const noCallers = fp(async (app: FastifyInstance) => {
  app.decorate('authenticateCaller', async () => { throw new CallerUnauthenticatedError('caller tokens are not used on the admin listener') })
}, { name: 'broker-callers' })

export async function buildAdminListener (
  config: BrokerConfig,
  deps: { logger: Logger, audit: AuditLog, plugin: (app: FastifyInstance) => Promise<void> }
): Promise<FastifyInstance> {
  const listen = config.callers.admin.listen
  if (listen === undefined) throw new Error('callers.admin.listen is not configured')
  checkAdminListen(listen)
  const loggerInstance: FastifyBaseLogger = deps.logger.child({ listener: 'admin' })
  // Attempts no route answered; those a route answered are audited by the admin plugin's own hook.
  const auditUnrouted = (target: string, requestId: string, problem: ProblemBody): void => {
    const attempt = mutatingActionOf(target)
    if (attempt !== undefined) deps.audit.refused({ actor: 'admin-listener', ...attempt, via: 'admin-listener', requestId }, problem)
  }
  const app = Fastify({
    loggerInstance,
    bodyLimit: 1_048_576,
    forceCloseConnections: true,
    // A target the router refuses (a name past its length limit: 414; bad percent-encoding: 400) gets a problem body
    // and, when it names a change, an audit record.
    frameworkErrors: (error, request, reply) => {
      answerFrameworkError(error, request, reply, () => true)
      auditUnrouted(request.raw.url ?? '', request.id, toProblem(error, request.id).body)
    }
  })
  refuseBrowserRequests(app, { listen, allowedHosts: config.callers.admin.allowedHosts })
  adminAnswerHeaders(app)
  answerMethodNotAllowed(app)
  answerWithProblems(app)
  app.addHook('onError', async (request, _reply, error) => {
    if (request.is404) auditUnrouted(request.raw.url ?? '', request.id, toProblem(error, request.id).body)
  })
  await app.register(noCallers)
  await app.register(adminAuth, { admin: config.callers.admin, trustedListener: true })
  await app.register(deps.plugin)
  return app
}

/** Listens on the configured socket (0600, a stale socket file replaced) or loopback port; returns the address. */
export async function listenAdmin (app: FastifyInstance, listen: AdminListen): Promise<string> {
  checkAdminListen(listen)
  if (listen.socket !== undefined) {
    const socket = listen.socket
    // sun_path holds 108 bytes on Linux (104 on macOS); a longer path fails with a misleading EADDRINUSE.
    if (Buffer.byteLength(socket) > 100) throw new Error(`callers.admin.listen.socket: ${socket} is ${Buffer.byteLength(socket)} bytes; unix socket paths must stay under about 100`)
    const existing = await lstat(socket).catch(() => undefined)
    if (existing?.isSocket() === true) await unlink(socket)
    else if (existing !== undefined) throw new Error(`callers.admin.listen.socket: ${socket} exists and is not a socket`)
    // Created under a umask that keeps others out from the start, then pinned to 0600.
    const umask = process.umask(0o177)
    try {
      await app.listen({ path: socket })
    } finally {
      process.umask(umask)
    }
    await chmod(socket, 0o600)
    return `unix:${socket}`
  }
  return await app.listen({ host: listen.host, port: listen.port ?? 0 })
}
