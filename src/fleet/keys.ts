/**
 * Every Redis key and channel the fleet uses, in one place. Keys of one integration share a hash tag
 * (`{prefix:integration}`), so a script touching several of them stays in one slot on Redis Cluster.
 * Names carry only configuration (prefix, integration, caller, version numbers, pod), never a secret.
 */
export class FleetKeys {
  constructor (readonly prefix: string) {}

  #tag (integration: string): string {
    return `${this.prefix}:{${this.prefix}:${integration}}`
  }

  /** The encrypted access token minted from one credential version. */
  token (integration: string, version: number): string {
    return `${this.#tag(integration)}:token:v${version}`
  }

  /** Held while one sidecar exchanges for the whole fleet. */
  exchangeLock (integration: string): string {
    return `${this.#tag(integration)}:exchange-lock`
  }

  /** Exists while the integration's quota is held; its PTTL is the time left (immune to clock skew between pods). */
  quotaHold (integration: string): string {
    return `${this.#tag(integration)}:quota-hold`
  }

  /** A `scope: fleet` rate limit of one policy rule (by its content, policy.ts ruleKey) for one caller (URI-encoded:
   * no braces). */
  ruleLimit (rule: string, caller: string): string {
    const tag = `${this.prefix}:rule:${rule}:${encodeURIComponent(caller)}`
    return `${this.prefix}:{${tag}}:limit`
  }

  /** Calls in flight under a `maxConcurrentScope: fleet` rule for one caller (a sorted set, fleet-slots.ts). */
  ruleSlots (rule: string, caller: string): string {
    return `${this.ruleLimit(rule, caller)}:in-flight`
  }

  /** The integration's points budget: per caller, demand and bucket (points-share.lua.ts). */
  points (integration: string): string {
    return `${this.#tag(integration)}:points`
  }

  /** A rule's `pointsPerHour` for one caller, in the rule × caller's slot (points-share.lua.ts). */
  rulePoints (rule: string, caller: string): string {
    return `${this.ruleLimit(rule, caller)}:points`
  }

  /** The integration budget: per caller, demand and bucket (fair-share.lua.ts). */
  budget (integration: string): string {
    return `${this.#tag(integration)}:budget`
  }

  /**
   * Every pod's usage tally for one minute (epoch minute): per pod a marker field and one field per caller and
   * integration (fleet-usage.ts). Usage keys share one hash tag, so one script reads the whole hour.
   */
  usage (minute: number): string {
    return `${this.#usageTag}:${minute}:tally`
  }

  /** Exists while this pod's published hour is in Redis: its absence tells the pod that Redis lost it. */
  usagePod (pod: string): string {
    return `${this.#usageTag}:pod:${encodeURIComponent(pod)}`
  }

  /** When the fleet's usage record in Redis was (re)started, epoch ms. */
  get usageSince (): string {
    return `${this.#usageTag}:since`
  }

  /** Atlassian's points pools as last seen by any pod, per integration × policy (fleet-pools.ts); beside the usage
   * record, which it is read with. */
  get pools (): string {
    return `${this.#usageTag}:pools`
  }

  get #usageTag (): string {
    return `${this.prefix}:{${this.prefix}:usage}`
  }

  /** Pub/sub: rotations, rollbacks, dropped tokens, quota holds. */
  get events (): string {
    return `${this.prefix}:events`
  }
}
