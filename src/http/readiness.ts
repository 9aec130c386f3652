/**
 * Readiness of the broker for `/readyz`: config loaded and the secret store reachable. The store's health is
 * sampled at most every `sampleMs`, and the answer only flips to "not ready" after `failuresToFlip` bad samples
 * in a row, so one slow Vault answer does not take every sidecar out of rotation (no flapping).
 */
import type { Clock } from '../clock.js'
import type { SecretStore } from '../secrets/secret-store.js'

/** Fleet mode's link to Redis: reported, never a reason to be unready (a sidecar without Redis still serves). */
export interface FleetReadiness { connected: boolean, detail: string, pod: string }

export interface ReadinessReport {
  ready: boolean
  store: { kind: string, ok: boolean, detail: string }
  fleet?: FleetReadiness
}

export class Readiness {
  readonly #store: SecretStore
  readonly #clock: Clock
  readonly #sampleMs: number
  readonly #failuresToFlip: number
  #lastSampleAt = -Infinity
  #consecutiveFailures = 0
  #detail = 'not checked yet'
  #pending: Promise<void> | undefined
  readonly #fleet: (() => FleetReadiness) | undefined

  constructor (options: {
    store: SecretStore
    clock: Clock
    sampleMs?: number
    failuresToFlip?: number
    fleet?: () => FleetReadiness
  }) {
    this.#fleet = options.fleet
    this.#store = options.store
    this.#clock = options.clock
    this.#sampleMs = options.sampleMs ?? 2_000
    this.#failuresToFlip = options.failuresToFlip ?? 3
  }

  async report (): Promise<ReadinessReport> {
    if (this.#clock.now() - this.#lastSampleAt >= this.#sampleMs) {
      this.#pending ??= this.#sample().finally(() => {
        this.#pending = undefined
      })
      await this.#pending
    }
    return {
      ready: this.#consecutiveFailures < this.#failuresToFlip,
      store: { kind: this.#store.kind, ok: this.#consecutiveFailures === 0, detail: this.#detail },
      ...(this.#fleet === undefined ? {} : { fleet: this.#fleet() })
    }
  }

  async #sample (): Promise<void> {
    let ok: boolean
    try {
      const health = await this.#store.health()
      ok = health.ok
      this.#detail = health.detail
    } catch {
      ok = false
      this.#detail = 'unreachable'
    }
    this.#lastSampleAt = this.#clock.now()
    this.#consecutiveFailures = ok ? 0 : this.#consecutiveFailures + 1
  }
}
