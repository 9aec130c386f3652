/** Admission with the local backend: each limit's meaning (admission-semantics.ts), a quota hold first, no promise. */
import t from 'tap'
import { createAdmission } from '../../src/limits/admission.js'
import { LocalLimits } from '../../src/limits/local-limits.js'
import { QuotaHold } from '../../src/limits/quota-hold.js'
import { createLogger } from '../../src/logger.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { attempt, rate, rule, seatQueue, semantics } from './admission-semantics.js'

semantics(t, (clock) => new LocalLimits({ clock }), () => new ManualClock())

t.test('a quota hold refuses first, spending none of the caller\'s rate; the local path answers without a promise', async (t) => {
  const clock = new ManualClock()
  const quotaHold = new QuotaHold({ clock, logger: createLogger({ level: 'silent' }) })
  const admit = createAdmission({
    quotaHold, backend: new LocalLimits({ clock }), queue: seatQueue(clock), defaultMaxConcurrent: 4
  })
  const limited = rule(0, { rateLimit: rate(1, 1) })
  quotaHold.adopt('jira-main', 5_000)
  t.equal((await attempt(admit, 'a', 'jira-main', limited) as { code: string }).code, 'BROKER_ERR_UPSTREAM_RATE_LIMITED')
  await clock.advance(5_000)
  const admitted = admit('a', 'jira-main', limited)
  t.equal(typeof admitted, 'function', 'a release, not a promise')
  t.throws(() => admit('a', 'jira-main', limited), { code: 'BROKER_ERR_CALLER_RATE_LIMITED' }, 'a refusal throws at once')
  const open = rule(1)
  for (let i = 0; i < 4; i++) t.equal(typeof admit('b', 'jira-main', open), 'function', `call ${i + 1} of 4: admitted without a promise`)
  t.ok(admit('b', 'jira-main', open) as unknown instanceof Promise, 'only a call that must wait for a slot gets a promise')
})

t.test('a call its queue refuses spends none of the shared budget: the budget is taken once the call holds its seat', async (t) => {
  const clock = new ManualClock()
  const admit = createAdmission({
    quotaHold: new QuotaHold({ clock, logger: createLogger({ level: 'silent' }) }),
    backend: new LocalLimits({ clock }),
    queue: seatQueue(clock, { seats: 1, maxPerCaller: 1 }),
    integrations: { 'jira-main': { product: 'jira', credential: 'oauth', cloudId: 'c', budget: { perSecond: 1, burst: 3 } } as never }
  })
  const open = rule(0)
  const first = admit('greedy', 'jira-main', open)
  if (typeof first !== 'function') throw new Error('the first call holds the only seat at once')
  const waiting = admit('greedy', 'jira-main', open)
  t.ok(waiting instanceof Promise, 'the second waits in its queue')
  for (let i = 0; i < 5; i++) {
    t.equal((await attempt(admit, 'greedy', 'jira-main', open) as { code: string }).code, 'BROKER_ERR_CALLER_QUEUE_FULL')
  }
  first()
  const second = await waiting
  second()
  const third = admit('other', 'jira-main', open)
  t.equal(typeof third, 'function', 'the budget\'s third token is still there for another caller: five refused calls spent none of it')
  if (typeof third === 'function') third()
  t.equal((await attempt(admit, 'other', 'jira-main', open) as { code: string }).code, 'BROKER_ERR_CALLER_RATE_LIMITED',
    'and three admitted calls spent the burst of three')
})
