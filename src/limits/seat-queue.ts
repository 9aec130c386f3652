/**
 * Admission that waits instead of refusing, after Kubernetes API Priority and Fairness: each integration has `seats`
 * (by default its upstream pool's connections, src/upstream/integration-pools.ts), and a call that finds no seat, or
 * finds its caller at its own concurrency limit, waits in its caller's FIFO queue. When a seat frees, the next call
 * goes to the waiting caller holding the fewest seats of that integration (ties: the one whose head call has waited
 * longest), so one or two greedy or slow callers cannot starve a third: its call is served before their queued ones.
 * APF's shuffle sharding is not needed here: callers are few and named by policy, so every caller gets a queue of
 * its own instead of sharing hashed ones.
 * A call is refused (429 with Retry-After) only when its caller's queue is full or it has waited past `maxWaitMs`;
 * a waiting call whose caller goes away leaves its queue. With a seat free and nobody waiting, a call is admitted
 * without a promise (the hot path stays synchronous).
 */
import type { CancelSignal } from '../cancel-signal.js'
import type { Clock, TimerHandle } from '../clock.js'
import { CallerQueueFullError, CallerQueueTimeoutError, withRetryAfter } from '../errors.js'
import type { Release } from './limit-backend.js'

export interface SeatQueueSettings {
  /** Calls of one integration in flight at once, over all callers. */
  seats: number
  /** Calls one caller may have waiting for one integration. */
  maxPerCaller: number
  /** How long a call may wait for its seat. */
  maxWaitMs: number
}

/** What a queued call ended as: `admitted` (it got its seat), `full`, `timeout`, or `gone` (its caller left). */
export type QueueOutcome = 'admitted' | 'full' | 'timeout' | 'gone'

/** Sees every call that did not get its seat at once: the wait (0 for `full`) and how it ended. */
export type QueueObserver = (caller: string, integration: string, waitedMs: number, outcome: QueueOutcome) => void

/** The caller's own concurrency slot (admission.ts): a release, or false while the caller is at its limit. */
export type TakeSlot = () => Release | false

export interface QueueRow {
  integration: string
  caller: string
  /** Calls waiting. */
  depth: number
  /** Seats the caller holds. */
  seatsInUse: number
  /** How long the oldest waiting call has waited (0 when none waits). */
  oldestWaitMs: number
}

interface Waiter {
  caller: string
  takeSlot: TakeSlot
  enqueuedAt: number
  /** Arrival order, so ties between callers go to the call that came first. */
  sequence: number
  resolve: (release: Release) => void
  reject: (error: unknown) => void
  timer: TimerHandle
  signal: CancelSignal | undefined
  onGone: () => void
}

interface Seats {
  inUse: number
  byCaller: Map<string, number>
  /** Caller -> its waiting calls, oldest first; a caller with none has no entry. */
  waiting: Map<string, Waiter[]>
}

export class SeatQueue {
  readonly #clock: Clock
  readonly #settings: SeatQueueSettings
  readonly #observe: QueueObserver
  readonly #integrations = new Map<string, Seats>()
  #sequence = 0
  /** Calls waiting over every integration: a release with none skips the dispatch (the hot path). */
  #waitingCalls = 0

  constructor (options: { clock: Clock, settings: SeatQueueSettings, observe?: QueueObserver }) {
    this.#clock = options.clock
    this.#settings = options.settings
    this.#observe = options.observe ?? (() => {})
  }

  /** A seat of the integration and the caller's slot, now (a release) or once both are free (a promise of one).
   *  Throws (or rejects) 429 when the caller's queue is full or the wait is over, the signal's reason when it goes. */
  acquire (caller: string, integration: string, takeSlot: TakeSlot, signal?: CancelSignal): Release | Promise<Release> {
    const seats = this.#seatsOf(integration)
    // After every dispatch, a free seat means each waiting caller is at its own limit: a caller with no call waiting
    // takes the seat without jumping anyone's turn; one with calls waiting queues behind them (FIFO per caller).
    if (seats.inUse < this.#settings.seats && !seats.waiting.has(caller)) {
      const slot = takeSlot()
      if (slot !== false) return this.#grant(seats, caller, slot)
    }
    let queue = seats.waiting.get(caller)
    if (queue !== undefined && queue.length >= this.#settings.maxPerCaller) {
      this.#observe(caller, integration, 0, 'full')
      throw withRetryAfter(new CallerQueueFullError(caller, integration), 1)
    }
    if (signal?.aborted === true) throw signal.reason
    if (queue === undefined) { queue = []; seats.waiting.set(caller, queue) }
    const waiting = queue
    return new Promise<Release>((resolve, reject) => {
      const leave = (outcome: QueueOutcome): void => {
        const index = waiting.indexOf(waiter)
        if (index !== -1) waiting.splice(index, 1)
        if (waiting.length === 0 && seats.waiting.get(caller) === waiting) seats.waiting.delete(caller)
        this.#waitingCalls--
        waiter.signal?.removeEventListener('abort', waiter.onGone)
        this.#observe(caller, integration, this.#clock.now() - waiter.enqueuedAt, outcome)
      }
      const waiter: Waiter = {
        caller,
        takeSlot,
        enqueuedAt: this.#clock.now(),
        sequence: this.#sequence++,
        resolve: (release) => { this.#clock.clearTimer(waiter.timer); leave('admitted'); resolve(release) },
        reject,
        timer: this.#clock.setTimer(() => {
          leave('timeout')
          reject(withRetryAfter(new CallerQueueTimeoutError(caller, integration, this.#settings.maxWaitMs), 1))
        }, this.#settings.maxWaitMs),
        signal,
        onGone: () => {
          this.#clock.clearTimer(waiter.timer)
          leave('gone')
          reject(signal?.reason)
        }
      }
      waiting.push(waiter)
      this.#waitingCalls++
      signal?.addEventListener('abort', waiter.onGone)
    })
  }

  /** Every caller that waits or holds a seat, per integration (the ops page and the queue-depth gauge). */
  rows (): QueueRow[] {
    const now = this.#clock.now()
    const rows: QueueRow[] = []
    for (const [integration, seats] of this.#integrations) {
      const callers = new Set([...seats.byCaller.keys(), ...seats.waiting.keys()])
      for (const caller of callers) {
        const queue = seats.waiting.get(caller) ?? []
        rows.push({
          integration,
          caller,
          depth: queue.length,
          seatsInUse: seats.byCaller.get(caller) ?? 0,
          oldestWaitMs: queue[0] === undefined ? 0 : now - queue[0].enqueuedAt
        })
      }
    }
    return rows
  }

  #seatsOf (integration: string): Seats {
    let seats = this.#integrations.get(integration)
    if (seats === undefined) {
      seats = { inUse: 0, byCaller: new Map(), waiting: new Map() }
      this.#integrations.set(integration, seats)
    }
    return seats
  }

  #grant (seats: Seats, caller: string, slot: Release): Release {
    seats.inUse++
    seats.byCaller.set(caller, (seats.byCaller.get(caller) ?? 0) + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      slot()
      seats.inUse--
      const held = (seats.byCaller.get(caller) ?? 1) - 1
      if (held <= 0) seats.byCaller.delete(caller)
      else seats.byCaller.set(caller, held)
      // The freed slot may be the caller's default share, which spans integrations: every queue gets its turn.
      if (this.#waitingCalls === 0) return
      for (const waitingSeats of this.#integrations.values()) this.#dispatch(waitingSeats)
    }
  }

  /** Hands free seats to waiting calls: the caller holding the fewest seats first; a caller at its own limit waits
   *  for one of its own calls to end. */
  #dispatch (seats: Seats): void {
    while (seats.inUse < this.#settings.seats && seats.waiting.size > 0) {
      const candidates = [...seats.waiting.values()]
        .map((queue) => queue[0])
        .filter((waiter): waiter is Waiter => waiter !== undefined)
        .sort((a, b) => held(seats, a.caller) - held(seats, b.caller) || a.sequence - b.sequence)
      let granted = false
      for (const waiter of candidates) {
        const slot = waiter.takeSlot()
        if (slot === false) continue
        waiter.resolve(this.#grant(seats, waiter.caller, slot))
        granted = true
        break
      }
      if (!granted) return
    }
  }
}

function held (seats: Seats, caller: string): number {
  return seats.byCaller.get(caller) ?? 0
}
