/**
 * What the token provider hands out and reports: a grant (the Authorization header and the credential version behind
 * it), a minted OAuth token with its refresh times, the per-integration state the admin API shows, and the contract
 * of a fleet's shared token cache (src/fleet/shared-tokens.ts).
 */
import type { StoredSecret } from '../secrets/secret-store.js'

export interface AccessGrant {
  /** The full header value: "Bearer …" or "Basic …". */
  authorization: string
  secretVersion: number
  /** Epoch ms; undefined for API tokens, whose expiry Atlassian does not tell. */
  expiresAt: number | undefined
}

export interface TokenState {
  cached: boolean
  secretVersion: number | undefined
  expiresInSeconds: number | undefined
  lastExchange: { at: string, outcome: ExchangeOutcome } | undefined
  /** Set while an older version is in use because Atlassian rejected this (current) version. */
  fallbackFrom: number | undefined
  /** Epoch ms when the scope-refusal cooldown ends, while one runs (scope-refusals.ts). */
  scopeRefusalUntil: number | undefined
}

export type ExchangeOutcome = 'ok' | 'rejected' | 'unavailable' | 'error'

export interface MintedToken extends AccessGrant {
  expiresAt: number
  usableUntil: number
  refreshAt: number
}

/** Where a fleet keeps the tokens its sidecars mint; any failure inside falls back to `mint` itself. */
export interface SharedTokenCache {
  /** A fresh token for this version minted by any sidecar, else `mint` run once for the whole fleet. */
  obtain (integration: string, secret: Pick<StoredSecret, 'data' | 'version'>, mint: () => Promise<MintedToken>): Promise<MintedToken>
  /** An operator dropped the token here: drop it for every sidecar. */
  dropped (integration: string, versions: number[]): void
}
