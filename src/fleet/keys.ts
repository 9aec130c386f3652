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

  /** A fleet-wide limit's window (rate) or counter (concurrency) for one policy rule and caller. */
  callerLimit (integration: string, rule: number, caller: string, kind: 'rate' | 'concurrent'): string {
    return `${this.#tag(integration)}:limit:${rule}:${kind}:${caller}`
  }

  /** The integration budget's bucket and its active callers. */
  budget (integration: string): string {
    return `${this.#tag(integration)}:budget`
  }

  /** One pod's usage aggregate for one minute (epoch minute). */
  usage (minute: number, pod: string): string {
    return `${this.prefix}:{${this.prefix}:usage:${minute}}:${pod}`
  }

  /** The set of pods that wrote usage in a minute. */
  usagePods (minute: number): string {
    return `${this.prefix}:{${this.prefix}:usage:${minute}}:pods`
  }

  /** Pub/sub: rotations, rollbacks, dropped tokens, quota holds. */
  get events (): string {
    return `${this.prefix}:events`
  }
}
