/** The `callers` section's schemas: how caller JWTs are verified, and who is an admin. Part of config/schema.ts. */
import * as z from 'zod'

const seconds = z.number().int().nonnegative()
const positiveInt = z.number().int().positive()

export const jwtSchema = z.strictObject({
  audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).default('atlassian-broker'),
  issuer: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
  /** Shared HS256 secret; when no key source is given at all, one is generated in the data folder. */
  hs256Secret: z.string().min(32, 'an HS256 secret needs at least 32 characters').optional(),
  /** PEM files holding RS256, ES256 or EdDSA public keys. */
  publicKeys: z.array(z.string().min(1)).optional(),
  jwksUrl: z.url().optional(),
  /** A bearer token file sent when fetching the JWKS, re-read at each fetch (Kubernetes serves its JWKS to service
   * accounts). */
  jwksBearerTokenFile: z.string().min(1).optional(),
  /** A CA bundle (PEM) for the JWKS URL, e.g. the cluster CA at /var/run/secrets/kubernetes.io/serviceaccount/ca.crt.
   */
  jwksCaFile: z.string().min(1).optional(),
  callerClaim: z.string().min(1).default('sub'),
  clockToleranceSeconds: seconds.max(300).default(30),
  maxTokenBytes: positiveInt.default(8_192),
  /** Longest accepted token lifetime (`exp - iat`): seconds, or a duration such as "24h", "90m", "7d". */
  maxLifetime: z.union([positiveInt, z.string().regex(/^\d+\s*[smhd]$/, 'a duration such as "3600s", "90m", "24h" or "7d"')])
    .default(86_400).transform(durationSeconds),
  /** Caller JWT verifications are cached until the token's `exp` (bounded count). */
  verifiedCacheSize: positiveInt.default(10_000)
})

const DURATION_UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3_600, d: 86_400 }

/** "24h" -> 86400; a number is already seconds. */
function durationSeconds (value: number | string): number {
  if (typeof value === 'number') return value
  const unit = value.trim().slice(-1)
  return Number.parseInt(value, 10) * (DURATION_UNITS[unit] ?? 1)
}

export const adminSchema = z.strictObject({
  /** Claim in the caller JWT that carries roles, and the role that grants admin access. Off when unset. */
  roleClaim: z.string().min(1).default('roles'),
  role: z.string().min(1).optional(),
  /** A separate listener for the admin API (loopback port or unix socket) that needs no JWT. */
  listen: z.strictObject({ host: z.string().default('127.0.0.1'), port: z.number().int().min(0).max(65_535).optional(), socket: z.string().optional() }).optional(),
  /** More names the admin listener answers to (its Host header), besides its bound address and `localhost`: the names
   * a reverse proxy in front of it forwards. Any other Host is refused, so DNS rebinding cannot reach it. */
  allowedHosts: z.array(z.string().toLowerCase().regex(/^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/, 'a host name such as "broker-admin.internal" (no port, no scheme)').max(253)).default([]),
  /** Append-only JSON-lines audit of credential writes and admin actions (CLI and admin API). Past `maxFileBytes` it
   * is renamed to `<file>.1` (replacing the previous one) and a new one is started, as `usage.auditFile` is. */
  auditFile: z.string().optional(),
  maxFileBytes: positiveInt.min(4_096).default(67_108_864)
}).default({ roleClaim: 'roles', allowedHosts: [], maxFileBytes: 67_108_864 })
