/** The seat queue on a manual clock: FIFO per caller, fewest-seats-first between callers, bounded length and wait. */
import t from 'tap'
import { SeatQueue, type QueueOutcome, type SeatQueueSettings, type TakeSlot } from '../../src/limits/seat-queue.js'
import type { Release } from '../../src/limits/limit-backend.js'
import { CallerGone } from '../../src/upstream/caller-gone.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { isWaiting } from './admission-semantics.js'

const free: TakeSlot = () => () => {}

interface Observed { clock: ManualClock, queue: SeatQueue, seen: Array<[string, QueueOutcome, number]> }

function queueOf (settings: Partial<SeatQueueSettings> = {}): Observed {
  const clock = new ManualClock()
  const seen: Array<[string, QueueOutcome, number]> = []
  const queue = new SeatQueue({
    clock,
    settings: { seats: 2, maxPerCaller: 1_000, maxWaitMs: 30_000, ...settings },
    observe: (caller, _integration, waitedMs, outcome) => { seen.push([caller, outcome, waitedMs]) }
  })
  return { clock, queue, seen }
}

/** A caller's own limit of `limit` calls in flight, as admission's slot would count it. */
function limitOf (limit: number): TakeSlot {
  let running = 0
  return () => {
    if (running >= limit) return false
    running++
    return () => { running-- }
  }
}

t.test('a burst over the seats waits and is admitted in arrival order, no refusal; the free path needs no promise', async (t) => {
  const { queue, seen } = queueOf()
  const first = queue.acquire('job', 'jira', free)
  const second = queue.acquire('job', 'jira', free)
  t.equal(typeof first, 'function', 'a free seat: a release at once')
  t.equal(typeof second, 'function')
  const order: number[] = []
  const waiting = Array.from({ length: 10 }, async (_, index) => {
    const release = await queue.acquire('job', 'jira', free)
    order.push(index)
    return release
  })
  t.equal(queue.rows()[0]?.depth, 10, 'ten wait')
  ;(first as Release)()
  ;(second as Release)()
  const admitted: Release[] = []
  for (let round = 0; round < 5; round++) {
    await new Promise((resolve) => setImmediate(resolve))
    const now = await Promise.all(waiting.slice(round * 2, round * 2 + 2))
    admitted.push(...now)
    for (const release of now) release()
  }
  t.same(order, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'first in, first out')
  t.equal(seen.filter(([, outcome]) => outcome === 'admitted').length, 10, 'each wait observed once, as admitted')
  t.same(queue.rows(), [], 'nothing waits or runs')
})

t.test('a freed seat goes to the waiting caller holding the fewest: two greedy callers cannot starve a third', async (t) => {
  const { queue } = queueOf({ seats: 4 })
  const greedyA = queue.acquire('a', 'jira', free) as Release
  queue.acquire('a', 'jira', free)
  queue.acquire('b', 'jira', free)
  queue.acquire('b', 'jira', free)
  const aQueued = Array.from({ length: 5 }, () => queue.acquire('a', 'jira', free))
  const bQueued = Array.from({ length: 5 }, () => queue.acquire('b', 'jira', free))
  const third = queue.acquire('c', 'jira', free)
  t.ok(await isWaiting(third as Promise<Release>), 'every seat is taken: the third caller waits too')
  greedyA()
  t.equal(typeof await third, 'function', 'the seat went to c (holding none), though a and b queued first')
  t.ok(await isWaiting(aQueued[0] as Promise<Release>) && await isWaiting(bQueued[0] as Promise<Release>), 'their calls still wait')
  t.same(queue.rows().map((row) => [row.caller, row.depth, row.seatsInUse]), [['a', 5, 1], ['b', 5, 2], ['c', 0, 1]])
})

t.test('a caller at its own limit waits while seats are free, without holding up another caller', async (t) => {
  const { queue } = queueOf({ seats: 10 })
  const own = limitOf(1)
  const held = queue.acquire('a', 'jira', own) as Release
  const next = queue.acquire('a', 'jira', own)
  t.ok(next instanceof Promise && await isWaiting(next), 'a\'s second call waits for a\'s own slot')
  t.equal(typeof queue.acquire('b', 'jira', free), 'function', 'b takes a free seat at once')
  held()
  t.equal(typeof await next, 'function', 'a\'s call is admitted when a\'s slot frees')
})

t.test('a full queue refuses at once with 429 BROKER_ERR_CALLER_QUEUE_FULL and Retry-After', async (t) => {
  const { queue, seen } = queueOf({ seats: 1, maxPerCaller: 2 })
  queue.acquire('a', 'jira', free)
  void queue.acquire('a', 'jira', free)
  void queue.acquire('a', 'jira', free)
  t.throws(() => queue.acquire('a', 'jira', free), { code: 'BROKER_ERR_CALLER_QUEUE_FULL', statusCode: 429, retryAfterSeconds: 1 })
  t.ok(queue.acquire('b', 'jira', free) instanceof Promise, 'another caller has its own queue')
  t.same(seen, [['a', 'full', 0]])
})

t.test('a call waiting past maxWaitMs is refused with 429 BROKER_ERR_CALLER_QUEUE_TIMEOUT and leaves the queue', async (t) => {
  const { clock, queue, seen } = queueOf({ seats: 1, maxWaitMs: 5_000 })
  const held = queue.acquire('a', 'jira', free) as Release
  const waiting = queue.acquire('b', 'jira', free) as Promise<Release>
  const outcome = waiting.then(() => 'admitted', (error: unknown) => error)
  await clock.advance(4_999)
  t.ok(await isWaiting(outcome), 'still waiting just before the bound')
  await clock.advance(1)
  t.match(await outcome, { code: 'BROKER_ERR_CALLER_QUEUE_TIMEOUT', statusCode: 429, retryAfterSeconds: 1 })
  t.same(seen, [['b', 'timeout', 5_000]])
  held()
  t.same(queue.rows(), [], 'the seat is free and nobody waits: the timed-out call took nothing')
  t.equal(clock.pendingTimers, 0, 'no timer left behind')
})

t.test('a waiting call whose caller goes away leaves the queue; the seat goes to the next; release is idempotent', async (t) => {
  const { clock, queue, seen } = queueOf({ seats: 1 })
  const held = queue.acquire('a', 'jira', free) as Release
  const gone = new CallerGone()
  const leaving = (queue.acquire('b', 'jira', free, gone) as Promise<Release>).catch((error: unknown) => error)
  const staying = queue.acquire('c', 'jira', free) as Promise<Release>
  gone.abort()
  t.match(await leaving, { name: 'AbortError' }, 'rejected with the caller\'s own reason')
  t.equal(queue.rows().find((row) => row.caller === 'b'), undefined, 'b no longer waits')
  held()
  held()
  const next = await staying
  t.equal(queue.rows().find((row) => row.caller === 'c')?.seatsInUse, 1, 'the seat went to c')
  t.equal(queue.rows().reduce((sum, row) => sum + row.seatsInUse, 0), 1, 'a second release freed nothing more')
  next()
  t.same(seen.map(([caller, outcome]) => [caller, outcome]), [['b', 'gone'], ['c', 'admitted']])
  t.equal(clock.pendingTimers, 0)
  const already = new CallerGone()
  already.abort()
  queue.acquire('a', 'jira', free)
  t.throws(() => queue.acquire('d', 'jira', free, already), { name: 'AbortError' }, 'a caller already gone does not queue')
})

t.test('rows show each caller\'s depth, seats and oldest wait', async (t) => {
  const { clock, queue } = queueOf({ seats: 1 })
  queue.acquire('a', 'jira', free)
  void queue.acquire('b', 'jira', free)
  await clock.advance(1_500)
  void queue.acquire('b', 'jira', free)
  t.same(queue.rows(), [
    { integration: 'jira', caller: 'a', depth: 0, seatsInUse: 1, oldestWaitMs: 0 },
    { integration: 'jira', caller: 'b', depth: 2, seatsInUse: 0, oldestWaitMs: 1_500 }
  ])
})
