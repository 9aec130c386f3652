/**
 * When Atlassian refuses a token for a missing scope (401 "scope does not match", atlassian/scope-mismatch.ts), a new
 * token will not help: scopes are fixed when a credential is created (docs/reference/atlassian.md §4). Refreshing on
 * every such 401 let one badly scoped caller drive the token endpoint call for call (issue 24: 13 exchanges for 12
 * calls). So a scope refusal may cost one refresh (the cached token might predate a credential with more scopes);
 * when a fresh token, or the token that refresh produced, is refused the same way, the integration enters a cooldown
 * during which such 401s go back to the caller with no refresh. The cooldown doubles while refusals continue, and ends
 * early on a new credential version or an operator's token drop. A revoked-token 401 (no scope clause) never comes
 * here: it refreshes as before.
 */
import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import type { AccessGrant } from './grant.js'

export const SCOPE_REFUSAL_COOLDOWN = { baseMs: 300_000, maxMs: 3_600_000 }
/** A token this sidecar obtained less than this long ago is fresh: a refresh would bring the same scopes. */
const FRESH_TOKEN_MS = 60_000

interface RefusalState {
  /** A refresh was already spent on a scope refusal since the last cooldown began. */
  refreshed: boolean
  /** Epoch ms when the current cooldown ends; 0 before the first. */
  until: number
  /** Cooldowns in a row, for the doubling. */
  cooldowns: number
}

export type ScopeRefusalVerdict = 'refresh' | 'suppress'

export class ScopeRefusals {
  readonly #states = new Map<string, RefusalState>()
  /** When each token entered this sidecar's cache (minted here or taken from the fleet). */
  readonly #obtainedAt = new WeakMap<AccessGrant, number>()
  readonly #clock: Clock
  readonly #logger: Logger
  readonly #onSuppressed: ((integration: string) => void) | undefined

  constructor (clock: Clock, logger: Logger, onSuppressed?: (integration: string) => void) {
    this.#clock = clock
    this.#logger = logger
    this.#onSuppressed = onSuppressed
  }

  /** The token provider cached a new token (an API token's grant is never fresh: it is not minted). */
  obtained (grant: AccessGrant): void {
    this.#obtainedAt.set(grant, this.#clock.now())
  }

  /** Atlassian answered "scope does not match" to `grant`: may a refresh be spent on it? */
  refused (integration: string, grant: AccessGrant): ScopeRefusalVerdict {
    const now = this.#clock.now()
    const obtainedAt = this.#obtainedAt.get(grant)
    const fresh = obtainedAt !== undefined && now - obtainedAt < FRESH_TOKEN_MS
    const state = this.#states.get(integration) ?? { refreshed: false, until: 0, cooldowns: 0 }
    this.#states.set(integration, state)
    // Quiet for a long while after the last cooldown: this is a new episode, not the old one continuing.
    if (state.cooldowns > 0 && now >= state.until + SCOPE_REFUSAL_COOLDOWN.maxMs) state.cooldowns = 0
    if (now >= state.until && !fresh && !state.refreshed) {
      state.refreshed = true
      return 'refresh'
    }
    if (now >= state.until) this.#startCooldown(integration, state, now)
    this.#onSuppressed?.(integration)
    return 'suppress'
  }

  /** Epoch ms when the integration's cooldown ends, while one runs. */
  cooldownUntil (integration: string): number | undefined {
    const until = this.#states.get(integration)?.until
    return until !== undefined && this.#clock.now() < until ? until : undefined
  }

  /** A new credential version or an operator's drop: the next scope refusal may refresh again. */
  forget (integration: string): void {
    this.#states.delete(integration)
  }

  #startCooldown (integration: string, state: RefusalState, now: number): void {
    state.cooldowns++
    state.refreshed = false
    const { baseMs, maxMs } = SCOPE_REFUSAL_COOLDOWN
    const delayMs = Math.min(maxMs, baseMs * 2 ** (state.cooldowns - 1))
    state.until = now + delayMs
    // Once per cooldown: the 401s it suppresses are counted by the metric, not logged one by one.
    this.#logger.warn(
      { integration, cooldownSeconds: delayMs / 1000, cooldownUntil: new Date(state.until).toISOString() },
      'Atlassian refused a fresh token for a missing scope ("scope does not match"); the credential lacks a scope ' +
        'some caller needs. Token refresh on such 401s is paused for this integration until the cooldown ends'
    )
  }
}
