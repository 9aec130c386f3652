/**
 * Every time claim of a caller JWT, checked against the broker's one clock (src/clock.ts), not fast-jwt's `Date.now()`
 * (fast-jwt is told to skip `exp` and `nbf`; it still requires `exp` to be present): `exp`, `nbf` and `iat` must be
 * NumericDates (RFC 7519 section 2: a number of seconds); `nbf` and `exp` bound the token's validity with the clock
 * tolerance on either side, as fast-jwt bounds them (RFC 7519 sections 4.1.4, 4.1.5); `iat` must not lie in the future
 * beyond the tolerance; and a token may not live longer than `maxLifetimeSeconds` (`exp - iat`, or `exp - now` without
 * `iat`), so a leaked token with `exp` in year 9999 is not a key for ever.
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
  const { exp, iat, nbf } = claims as { exp?: number, iat?: number, nbf?: number }
  if (nbf !== undefined && now < nbf - rules.clockToleranceSeconds) return 'token not yet valid (nbf)'
  if (exp !== undefined && now > exp + rules.clockToleranceSeconds) return 'token expired'
  if (iat !== undefined && iat > now + rules.clockToleranceSeconds) return 'token issued in the future (iat)'
  if (exp === undefined) return undefined
  const lifetime = iat !== undefined ? exp - iat : exp - now - rules.clockToleranceSeconds
  if (lifetime > rules.maxLifetimeSeconds) {
    return `token lifetime exceeds the accepted ${rules.maxLifetimeSeconds} s (callers.jwt.maxLifetime); mint shorter-lived tokens`
  }
  return undefined
}
