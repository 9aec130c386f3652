/**
 * The parts of the config a reload may change while serving: integrations and policy. Request handlers read them
 * at the start of a call and keep what they read, so a swap never changes a call in flight; the swap itself is one
 * synchronous step, so no request sees half an old and half a new config.
 */
import { createHash } from 'node:crypto'
import type { IntegrationConfig, PolicyRuleConfig } from './schema.js'
import { compilePolicy, type Policy, type PolicyDecision } from '../policy/policy.js'

export interface LoadedState { hash: string, loadedAt: string, reloads: number }

/** The last reload refused (the old config kept serving), with every problem it had: the ops page's config panel. */
export interface RefusedReload { at: string, problems: string[] }

/** A Policy whose rules can be replaced; `decide` always uses the current compiled set. */
class LivePolicy implements Policy {
  current: Policy
  constructor (initial: Policy) { this.current = initial }
  get rules (): Policy['rules'] { return this.current.rules }
  get knownCallers (): ReadonlySet<string> { return this.current.knownCallers }
  decide (caller: string, integration: string, method: string, path: string): PolicyDecision {
    return this.current.decide(caller, integration, method, path)
  }
}

export function configHash (
  integrations: Readonly<Record<string, IntegrationConfig>>,
  policy: readonly PolicyRuleConfig[]
): string {
  return createHash('sha256').update(JSON.stringify({ integrations, policy })).digest('hex').slice(0, 16)
}

export class LiveConfig {
  /** One object shared by every reader (proxy, tokens, admin); its entries are replaced in place on reload. */
  readonly integrations: Record<string, IntegrationConfig>
  readonly policy: Policy
  #policyRules: readonly PolicyRuleConfig[]
  #state: LoadedState
  #lastRefused: RefusedReload | null = null

  constructor (
    integrations: Readonly<Record<string, IntegrationConfig>>,
    policyRules: readonly PolicyRuleConfig[],
    now: () => Date
  ) {
    this.integrations = { ...integrations }
    this.#policyRules = policyRules
    this.policy = new LivePolicy(compilePolicy(policyRules))
    this.#state = { hash: configHash(integrations, policyRules), loadedAt: now().toISOString(), reloads: 0 }
  }

  get state (): LoadedState {
    return this.#state
  }

  get lastRefused (): RefusedReload | null {
    return this.#lastRefused
  }

  /** A reload that changed nothing because of its problems (config/reload.ts); problems never quote secret values. */
  noteRefused (problems: readonly string[], now: () => Date): void {
    this.#lastRefused = { at: now().toISOString(), problems: [...problems] }
  }

  get policyRules (): readonly PolicyRuleConfig[] {
    return this.#policyRules
  }

  /** Replaces integrations and policy in one synchronous step. The policy is compiled first, so a throw changes
   * nothing. */
  swap (
    integrations: Readonly<Record<string, IntegrationConfig>>,
    policyRules: readonly PolicyRuleConfig[],
    now: () => Date,
    options: { sameReload?: boolean } = {}
  ): void {
    const compiled = compilePolicy(policyRules)
    for (const name of Object.keys(this.integrations)) {
      if (!Object.hasOwn(integrations, name)) Reflect.deleteProperty(this.integrations, name)
    }
    Object.assign(this.integrations, integrations)
    ;(this.policy as LivePolicy).current = compiled
    this.#policyRules = policyRules
    this.#state = {
      hash: configHash(integrations, policyRules),
      loadedAt: now().toISOString(),
      // A reload's second step (its sites resolved) is the same reload, not another.
      reloads: this.#state.reloads + (options.sameReload === true ? 0 : 1)
    }
  }
}
