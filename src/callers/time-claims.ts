/**
 * The time claims of a caller JWT, checked beyond what fast-jwt does (it checks `exp` and `nbf`, and `iat` only
 * against a `maxAge`): `exp`, `nbf` and `iat` must be NumericDates (RFC 7519 section 2: a number of seconds), `iat`
 * must not lie in the future beyond the clock tolerance, and a token may not live longer than `maxLifetimeSeconds`
 * (`exp - iat`, or `exp - now` without `iat`), so a leaked token with `exp` in year 9999 is not a key for ever.
 */
export interface TimeClaimRules {
  clockToleranceSeconds: number
  maxLifetimeSeconds: number
}

const TIME_CLAIMS = ['exp', 'nbf', 'iat'] as const

/** Why the token's time claims are refused (words for the caller), or undefined when they are acceptable. */
export function refuseTimeClaims (
  claims: Readonly<Record<string, unknown>>,
  rules: TimeClaimRules,
  nowMs: number
): string | undefined {
  for (const name of TIME_CLAIMS) {
    const value = claims[name]
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) { return `claim "${name}" is not a NumericDate (seconds since the epoch)` }
  }
  const now = nowMs / 1000
  const { exp, iat } = claims as { exp?: number, iat?: number }
  if (iat !== undefined && iat > now + rules.clockToleranceSeconds) return 'token issued in the future (iat)'
  if (exp === undefined) return undefined
  const lifetime = iat !== undefined ? exp - iat : exp - now - rules.clockToleranceSeconds
  if (lifetime > rules.maxLifetimeSeconds) {
    return `token lifetime exceeds the accepted ${rules.maxLifetimeSeconds} s (callers.jwt.maxLifetime); mint shorter-lived tokens`
  }
  return undefined
}
