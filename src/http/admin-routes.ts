/**
 * The operator API for credentials, `/admin/integrations…`: state, rotate, rollback, history, drop a cached token.
 * An encapsulated plugin (registered through AppDeps.plugins, and on the admin listener when configured). Every route
 * needs `app.requireAdmin` (admin-auth.ts), checked in onRequest so an unauthenticated body is never parsed. Rotate and
 * rollback go through the one credential write path (credentials/credential-writer.ts); every mutating action writes
 * one audit record (credentials/audit.ts `audited`). Answers never carry a credential value.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import * as z from 'zod'
import type { Clock } from '../clock.js'
import { integrationNamed } from '../config/integration-lookup.js'
import type { IntegrationConfig } from '../config/schema.js'
import { BadRequestError, IntegrationNotFoundError, UnsupportedMediaTypeError } from '../errors.js'
import { adminAnswerHeaders } from './admin-browser-guard.js'
import { toProblem } from './problem.js'
import type { CredentialExpiry } from '../credentials/expiry.js'
import { credentialHistory, type RotationResult } from '../credentials/rotation.js'
import { CredentialWriter, type WriteResult } from '../credentials/credential-writer.js'
import type { CredentialVerifier } from '../atlassian/credential-probe.js'
import type { CredentialSource } from '../secrets/credential-source.js'
import type { SecretStore } from '../secrets/secret-store.js'
import type { TokenProvider } from '../tokens/token-provider.js'
import { audited, type AuditAction, type AuditLog } from '../credentials/audit.js'
import { integrationStates } from '../credentials/integration-state.js'

export interface AdminPluginOptions {
  integrations: Readonly<Record<string, IntegrationConfig>>
  store: SecretStore
  credentials: CredentialSource
  tokens: TokenProvider
  verify: CredentialVerifier
  expiry: CredentialExpiry
  audit: AuditLog
  clock: Clock
  /** Recorded in audit records: the main listener's admin API or the dedicated admin listener. */
  via: 'admin-api' | 'admin-listener'
}

/** Versions are counters: past 2^31 - 1 a number is not one (openapi.yaml says the same maximum). */
const version = z.number().int().nonnegative().max(2_147_483_647)
/** Checked by the write path (credentials/change-reason.ts), the same for the CLI: 400 BROKER_ERR_REASON_INVALID. */
const reason = z.string().optional()
const rotateBody = z.strictObject({
  credential: z.unknown(),
  reason,
  expiresAt: z.string().max(64).optional(),
  owner: z.string().min(1).max(512).optional(),
  expectedVersion: version.optional()
})
const rollbackBody = z.strictObject({
  toVersion: version.min(1).optional(),
  expectedVersion: version.optional(),
  reason
})
const dropTokenBody = z.strictObject({})

const MUTATING_ROUTES = new Map<string, AuditAction>([
  ['POST /admin/integrations/:name/rotate', 'rotate'],
  ['POST /admin/integrations/:name/rollback', 'rollback'],
  ['DELETE /admin/integrations/:name/token', 'drop-token']
])

const MUTATING_PATH = /^\/admin\/integrations\/([^/?]*)\/(rotate|rollback|token)(?:\?|$)/
const PATH_ACTIONS = { rotate: 'rotate', rollback: 'rollback', token: 'drop-token' } as const satisfies Record<string, AuditAction>

/** The mutating action a request target asks for, read from the target itself: also for the attempts no route
 * answered (a method the path does not serve, a name past the router's length limit), which the admin listener audits
 * too (admin-listener.ts). */
export function mutatingActionOf (target: string): { action: AuditAction, integration: string } | undefined {
  const match = MUTATING_PATH.exec(target)
  if (match === null) return undefined
  let integration = match[1] ?? ''
  try { integration = decodeURIComponent(integration) } catch { /* kept as sent */ }
  return { action: PATH_ACTIONS[match[2] as keyof typeof PATH_ACTIONS], integration: integration.slice(0, 64) }
}

/**
 * A change (POST) needs `Content-Type: application/json` and a body. A page on another site can send a POST without a
 * CORS preflight only as text/plain, form data or with no body at all (a `no-cors` fetch, `navigator.sendBeacon`); an
 * empty body used to be taken as `{}`, which made a cross-site rollback one line of script. A DELETE may come without
 * a body (no page can send one cross-origin without a preflight the broker never grants), and one with a body follows
 * the same rule. Checked before the body is read.
 */
function requireJsonBody (request: FastifyRequest): void {
  if (request.method === 'GET' || request.method === 'HEAD' || request.method === 'OPTIONS') return
  const length = request.headers['content-length']
  const type = request.headers['content-type']
  const empty = (length === undefined && request.headers['transfer-encoding'] === undefined) || length === '0'
  if (request.method === 'DELETE' && empty && type === undefined) return
  const mediaType = (type ?? '').split(';')[0]?.trim().toLowerCase()
  if (mediaType !== 'application/json') {
    throw new UnsupportedMediaTypeError(type === undefined ? 'no Content-Type was sent' : 'another Content-Type was sent')
  }
  if (empty) throw new BadRequestError('the body is empty; an admin change takes a JSON object ({} when there is nothing to give)')
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The admin's name, set by the admin plugin's onRequest check. */
    adminName: string
  }
}

/** Zod problems as field paths and codes only: the body holds a credential, so no message may quote input. */
function parseBody<T> (schema: z.ZodType<T>, body: unknown): T {
  // A missing or null body is no object: `{}` must be sent (requireJsonBody says why).
  const result = schema.safeParse(body)
  if (result.success) return result.data
  const problems = result.error.issues.map((issue) => issue.code === 'unrecognized_keys'
    ? `unexpected field(s) ${issue.keys.map((key) => JSON.stringify(key.slice(0, 40))).join(', ')}`
    : `${issue.path.length > 0 ? `field "${issue.path.join('.')}"` : 'the body'} is ${issue.code === 'invalid_type' ? `not a ${issue.expected}` : 'invalid'}`)
  throw new BadRequestError(problems.join('; '))
}

export function createAdminPlugin (options: AdminPluginOptions): (app: FastifyInstance) => Promise<void> {
  const { integrations, store, credentials, tokens, expiry, audit } = options

  const integrationOf = (request: FastifyRequest): { name: string, config: IntegrationConfig } => {
    const name = (request.params as { name: string }).name
    const config = integrationNamed(integrations, name)
    if (config === undefined) throw new IntegrationNotFoundError(name.slice(0, 64))
    return { name, config }
  }

  /** The written version becomes the one in use here at once; the CredentialSource's change event tells the fleet
   * (fleet/fleet.ts), and other brokers without a fleet see it within their revalidation interval. */
  const adopt = async (result: RotationResult): Promise<undefined> => {
    credentials.adopt(result.stored)
    expiry.note(
      result.integration,
      (await store.metadata(result.integration).catch(() => undefined))?.expires_at ??
        expiry.expiresAt(result.integration)
    )
    return undefined
  }
  const writer = new CredentialWriter({
    store, verify: options.verify, audit, clock: options.clock, via: options.via, announce: adopt
  })

  /** Requests whose mutating action wrote its audit record; the others are recorded by the onError hook below. */
  const auditedRequests = new WeakSet<FastifyRequest>()

  const answer = (result: WriteResult, verb: string): Record<string, unknown> => ({
    integration: result.integration,
    oldVersion: result.oldVersion ?? null,
    newVersion: result.newVersion,
    ...(result.restoredVersion === undefined ? {} : { restoredVersion: result.restoredVersion }),
    verified: result.check !== undefined,
    expiresAt: expiry.expiresAt(result.integration) ?? null,
    daysToExpiry: expiry.daysToExpiry(result.integration) ?? null,
    notes: [
      `${verb}: new exchanges use version ${result.newVersion}; tokens already minted stay in use until they expire or are refused`,
      ...(result.check?.warning === undefined ? [] : [`warning: ${result.check.warning}`]),
      ...result.notes
    ]
  })

  return async function adminPlugin (app: FastifyInstance): Promise<void> {
    app.decorateRequest('adminName', '')
    adminAnswerHeaders(app)
    app.addHook('onRequest', async (request) => {
      request.adminName = await app.requireAdmin(request)
      requireJsonBody(request)
    })

    // Every refused attempt at a mutating action is recorded, also those refused before the action ran: a body that
    // is not JSON or has unknown fields, an unknown integration, a caller without the admin role. Unauthenticated
    // attempts are not (anyone can make them; they go to the sampled log, callers/refusal-sampler.ts). On the admin
    // listener whoever reached it is the actor, also when refused before admin-auth ran (a browser's request).
    app.addHook('onError', async (request, _reply, error) => {
      const action = MUTATING_ROUTES.get(`${request.method} ${request.routeOptions.url ?? ''}`)
      const actor = request.adminName !== '' ? request.adminName : request.caller?.id ?? (options.via === 'admin-listener' ? 'admin-listener' : undefined)
      if (action === undefined || actor === undefined || auditedRequests.has(request)) return
      const { body } = toProblem(error, request.id)
      const integration = String((request.params as { name?: unknown }).name ?? '').slice(0, 64)
      audit.refused({ actor, action, integration, via: options.via, requestId: request.id }, body)
    })

    app.get('/admin/integrations', async () => {
      return { store: store.kind, integrations: await integrationStates({ ...options }, Object.keys(integrations)) }
    })

    app.get('/admin/integrations/:name', async (request) => {
      const { name } = integrationOf(request)
      return (await integrationStates({ ...options }, [name]))[0]
    })

    app.get('/admin/integrations/:name/history', async (request) => {
      const { name } = integrationOf(request)
      const history = await credentialHistory(store, name)
      const inUse = credentials.cachedVersion(name)
      return {
        integration: name,
        currentVersion: history.currentVersion ?? null,
        versionInUse: inUse ?? null,
        rotatedAt: history.metadata.rotated_at ?? null,
        rotatedBy: history.metadata.rotated_by ?? null,
        expiresAt: history.metadata.expires_at ?? null,
        owner: history.metadata.owner ?? null,
        versions: history.versions.map((entry) => ({
          version: entry.version,
          createdAt: entry.createdAt,
          writtenBy: entry.writtenBy ?? null,
          reason: entry.reason ?? null,
          readable: entry.readable,
          current: entry.version === history.currentVersion
        }))
      }
    })

    app.post('/admin/integrations/:name/rotate', async (request) => {
      const { name, config } = integrationOf(request)
      const body = parseBody(rotateBody, request.body)
      auditedRequests.add(request)
      const result = await writer.write('rotate', {
        integration: name,
        config,
        credential: body.credential,
        actor: request.adminName,
        expiresAt: body.expiresAt,
        owner: body.owner,
        expectedVersion: body.expectedVersion,
        reason: body.reason,
        requestId: request.id
      })
      return answer(result, 'rotated')
    })

    app.post('/admin/integrations/:name/rollback', async (request) => {
      const { name, config } = integrationOf(request)
      const body = parseBody(rollbackBody, request.body)
      auditedRequests.add(request)
      const result = await writer.rollback({
        integration: name,
        config,
        actor: request.adminName,
        toVersion: body.toVersion,
        expectedVersion: body.expectedVersion,
        reason: body.reason,
        requestId: request.id
      })
      return answer(result, `rolled back to the credential of version ${result.restoredVersion ?? '?'}`)
    })

    app.delete('/admin/integrations/:name/token', async (request) => {
      const { name } = integrationOf(request)
      if (request.body !== undefined) parseBody(dropTokenBody, request.body)
      auditedRequests.add(request)
      const entry = { actor: request.adminName, action: 'drop-token' as const, integration: name, via: options.via, requestId: request.id }
      const result = await audited(audit, entry, () => store.currentVersion(name), async () => {
        const before = tokens.state(name)
        const dropped = tokens.drop(name)
        const version = before.cached ? before.secretVersion : undefined
        return { dropped, oldVersion: version, detail: dropped ? 'cached access token dropped' : 'no cached access token' }
      })
      return { integration: name, dropped: result.dropped }
    })
  }
}
