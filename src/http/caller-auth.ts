/**
 * Who is calling: verifies the caller's `Authorization: Bearer <JWT>` with @fastify/jwt (signature, `exp`, `nbf`,
 * `aud`, `iss` when configured; algorithms pinned to the key type) and sets `request.caller`.
 * Verified tokens are remembered until their `exp` (verified-tokens.ts), so a job's repeated calls cost one
 * verification.
 */
import fastifyJwt, { type TokenOrHeader } from '@fastify/jwt'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { systemClock, type Clock } from '../clock.js'
import type { BrokerConfig } from '../config/schema.js'
import { BadRequestError, CallerUnauthenticatedError, errorCode, NotReadyError, withRetryAfter } from '../errors.js'
import type { CallerKeys } from '../callers/caller-keys.js'
import { JwksClient, JwksUnavailableError } from '../callers/jwks.js'
import { refuseTimeClaims } from '../callers/time-claims.js'
import { VerifiedTokens } from '../callers/verified-tokens.js'

export interface Caller {
  /** The value of the configured caller claim (default `sub`). */
  id: string
  claims: Readonly<Record<string, unknown>>
}

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller | null
  }
  interface FastifyInstance {
    authenticateCaller: (request: FastifyRequest) => Promise<Caller>
  }
}

export interface CallerAuthOptions {
  config: BrokerConfig['callers']['jwt']
  keys: CallerKeys
  /** The broker's one clock: token time claims, the verified-token cache and the JWKS refresh read it. */
  clock?: Clock
}

const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const

async function callerAuth (app: FastifyInstance, options: CallerAuthOptions): Promise<void> {
  const { config, keys } = options
  const clock = options.clock ?? systemClock
  const jwks =
    keys.kind === 'jwks'
      ? new JwksClient(keys.url, {
        ...(config.jwksBearerTokenFile ? { bearerTokenFile: config.jwksBearerTokenFile } : {}),
        ...(config.jwksCaFile ? { caFile: config.jwksCaFile } : {}),
        now: () => clock.now()
      })
      : undefined
  const secret = keys.kind === 'hs256'
    ? keys.secret
    : async (_request: FastifyRequest, token: TokenOrHeader): Promise<string> => {
      const kid = ('header' in token ? token.header : token).kid as string | undefined
      if (jwks) {
        const pem = await jwks.keyFor(kid)
        if (pem === undefined) throw new Error('no JWKS key matches the token')
        return pem
      }
      const map = keys.kind === 'public-keys' ? keys.keys : new Map<string, string>()
      const pem = kid !== undefined ? map.get(kid) : map.size === 1 ? map.values().next().value : undefined
      if (pem === undefined) throw new Error('no configured public key matches the token')
      return pem
    }
  const algorithms = keys.kind === 'hs256' ? ['HS256'] : keys.kind === 'public-keys' ? keys.algorithms : [...ASYMMETRIC]

  await app.register(fastifyJwt, {
    secret,
    decoratorName: 'jwtClaims',
    // The key callback must see the JOSE header (its `kid`); without `complete` it is handed the payload alone.
    decode: { complete: true },
    verify: {
      algorithms: algorithms as never,
      allowedAud: config.audience,
      ...(config.issuer !== undefined ? { allowedIss: config.issuer } : {}),
      // `exp` and `nbf` are checked by time-claims.ts on the broker's clock: fast-jwt would read Date.now(), a second
      // clock a test cannot move. `exp` stays required below.
      ignoreExpiration: true,
      ignoreNotBefore: true,
      // fast-jwt skips its aud/iss checks when the claim is absent, so a token without `aud` (or without `iss` when an
      // issuer is configured) would pass them: both are required here (RFC 7519 section 4.1.3, RFC 7523 section 3).
      requiredClaims: ['exp', 'aud', ...(config.issuer !== undefined ? ['iss'] : []), config.callerClaim],
      // No fast-jwt cache: it remembers failures too (up to verifiedCacheSize error objects, each with its stack
      // trace), so random bad tokens filled it and exhausted the heap unauthenticated (issue 16). Successes are
      // remembered by VerifiedTokens below; failures are never remembered.
      cache: false
    }
  })

  const verified = new VerifiedTokens<Caller>({
    max: config.verifiedCacheSize,
    clockToleranceMs: config.clockToleranceSeconds * 1000,
    now: () => clock.now()
  })
  app.decorateRequest('caller', null)
  app.decorate('authenticateCaller', async (request: FastifyRequest): Promise<Caller> => {
    // Node keeps only the first of repeated Authorization fields: which one a proxy in front reads is anyone's guess.
    if (authorizationFieldCount(request.raw.rawHeaders) > 1) throw new BadRequestError('send one Authorization header, not several')
    const header = request.headers.authorization
    const known = header === undefined ? undefined : verified.get(header)
    if (known !== undefined) {
      request.caller = known
      return known
    }
    if (header === undefined || !/^Bearer\s+\S+$/i.test(header)) {
      throw new CallerUnauthenticatedError('send "Authorization: Bearer <caller JWT>"')
    }
    if (header.length > config.maxTokenBytes) throw new CallerUnauthenticatedError('token too large')
    let claims: Record<string, unknown>
    try {
      claims = await request.jwtVerify<Record<string, unknown>>()
    } catch (error) {
      if (error instanceof JwksUnavailableError) {
        // The broker cannot get its keys: not the caller's fault, and worth retrying (docs/style.md, "Errors": JWT key
        // failures are 503).
        throw withRetryAfter(new NotReadyError({ cause: new Error(`caller keys: ${(error.cause as Error | undefined)?.message ?? error.message}`) }), 5)
      }
      throw new CallerUnauthenticatedError(describeJwtFailure(error), { cause: sanitized(error) })
    }
    const timeRefusal = refuseTimeClaims(
      claims,
      { clockToleranceSeconds: config.clockToleranceSeconds, maxLifetimeSeconds: config.maxLifetime },
      clock.now()
    )
    if (timeRefusal !== undefined) throw new CallerUnauthenticatedError(timeRefusal)
    const id = claims[config.callerClaim]
    if (typeof id !== 'string' || id === '') throw new CallerUnauthenticatedError(`claim "${config.callerClaim}" missing`)
    // One Caller per token, shared by all its requests: frozen so no request can change what the next one sees.
    const caller: Caller = Object.freeze({ id, claims: Object.freeze(claims) })
    verified.remember(header, caller, claims)
    request.caller = caller
    return caller
  })
}

/** How many `Authorization` fields the request carried (raw names, any case). */
function authorizationFieldCount (rawHeaders: readonly string[]): number {
  let count = 0
  for (let index = 0; index < rawHeaders.length; index += 2) {
    const name = rawHeaders[index]
    if (name !== undefined && name.length === 13 && name.toLowerCase() === 'authorization') count++
  }
  return count
}

/** A reason a caller can act on, never the token itself. */
function describeJwtFailure (error: unknown): string {
  // @fastify/jwt wraps fast-jwt's errors: the original reason survives in the code or the message text.
  const text = `${String(errorCode(error) ?? '')} ${(error as Error).message ?? ''}`.toLowerCase()
  if (text.includes('expired')) return 'token expired'
  if (text.includes('inactive') || text.includes('not active')) return 'token not yet valid (nbf)'
  if (text.includes('required')) return 'token lacks a required claim'
  if (text.includes('aud') || text.includes('iss')) return 'token audience or issuer not accepted'
  if (text.includes('algorithm')) return 'token algorithm not accepted'
  if (text.includes('signature')) return 'token signature invalid'
  return 'token invalid'
}

function sanitized (error: unknown): Error {
  return Object.assign(new Error(String(errorCode(error) ?? 'jwt verification failed')), {})
}

export default fp(callerAuth, { name: 'broker-callers' })
