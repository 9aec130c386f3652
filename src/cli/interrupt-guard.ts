/**
 * Ctrl-C (or SIGTERM, SIGHUP) during `init` (issue 24 §5): until the credential has passed verification nothing is on
 * disk, so the signal ends the process at once, as it would without this guard. From then until the credential and the
 * config are both written, the signal waits: ending between the two would leave a stored credential without its
 * config entry, or half a commit. `finish()` then ends the process by the signal that arrived, so the shell sees it.
 */
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
type GuardedSignal = typeof SIGNALS[number]

export class InterruptGuard {
  #committing = false
  #received: GuardedSignal | undefined
  readonly #onSignal = (signal: GuardedSignal): void => {
    if (this.#committing) {
      this.#received ??= signal
      return
    }
    this.#endBy(signal)
  }

  constructor () {
    for (const signal of SIGNALS) process.on(signal, this.#onSignal)
  }

  /** From here a signal waits for `finish()`. */
  commit (): void {
    this.#committing = true
  }

  /** Stops guarding; a signal that arrived during the commit ends the process now. */
  finish (): void {
    this.#committing = false
    for (const signal of SIGNALS) process.off(signal, this.#onSignal)
    if (this.#received !== undefined) this.#endBy(this.#received)
  }

  #endBy (signal: GuardedSignal): void {
    for (const each of SIGNALS) process.off(each, this.#onSignal)
    process.kill(process.pid, signal)
  }
}
