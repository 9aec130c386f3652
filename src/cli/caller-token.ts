/** `atlassian-broker caller-token --sub CALLER [--ttl 1h] [--role ROLE]`: an HS256 caller JWT for local use. */
import { createSigner } from 'fast-jwt'
import { resolveCallerKeys } from '../callers/caller-keys.js'
import type { BrokerConfig } from '../config/schema.js'
import { UsageError } from './io.js'

export function mintCallerToken (
  config: BrokerConfig,
  options: { sub: string, ttlSeconds: number, roles?: string[] }
): string {
  const keys = resolveCallerKeys(config)
  if (keys.kind !== 'hs256') {
    throw new UsageError(
      "caller-token signs with the broker's HS256 key, but this config verifies callers with " +
        (keys.kind === 'jwks' ? 'a JWKS URL' : 'public keys') +
        '; mint tokens with your identity provider instead'
    )
  }
  const jwt = config.callers.jwt
  if (options.ttlSeconds > jwt.maxLifetime) {
    throw new UsageError(
      `--ttl of ${options.ttlSeconds} s is longer than the broker accepts (callers.jwt.maxLifetime: ${jwt.maxLifetime} s)`
    )
  }
  const audience = Array.isArray(jwt.audience) ? jwt.audience[0] : jwt.audience
  const issuer = Array.isArray(jwt.issuer) ? jwt.issuer[0] : jwt.issuer
  const sign = createSigner({
    key: keys.secret,
    algorithm: 'HS256',
    expiresIn: options.ttlSeconds * 1000,
    ...(audience !== undefined ? { aud: audience } : {}),
    ...(issuer !== undefined ? { iss: issuer } : {})
  })
  const claims: Record<string, unknown> = { [jwt.callerClaim]: options.sub }
  const roles = options.roles ?? []
  if (roles.length > 0) claims[config.callers.admin.roleClaim] = roles
  return sign(claims)
}
