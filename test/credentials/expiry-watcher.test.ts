/** Expiry tracking with an injected clock: daily checks, warn from 30 days, error from 7, days-to-expiry, both stores.
 * */
import t from 'tap'
import { createLogger } from '../../src/logger.js'
import { CredentialExpiry, DAY_MS, daysUntil, hoursUntil } from '../../src/credentials/expiry.js'
import { ExpiryWatcher } from '../../src/credentials/expiry-watcher.js'
import { memoryLogStream } from '../helpers/broker-harness.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { openTestStore, STORE_KINDS } from '../helpers/test-stores.js'

const CREDENTIAL = { client_id: 'id', client_secret: 'expiry-test-secret-value' }

t.test('daysUntil counts whole days down, negative once expired', async (t) => {
  const now = Date.parse('2026-11-23T12:00:00Z')
  t.equal(daysUntil('2026-12-23T12:00:00Z', now), 30)
  t.equal(daysUntil('2026-12-23T11:59:59Z', now), 29)
  t.equal(daysUntil('2026-11-23T11:00:00Z', now), -1)
  t.equal(daysUntil('not a date', now), undefined)
})

t.test('hoursUntil: one decimal, read as strictly as daysUntil', async (t) => {
  const now = Date.parse('2026-11-23T12:00:00Z')
  t.equal(hoursUntil('2026-11-25T11:54:00Z', now), 47.9)
  t.equal(hoursUntil('2026-11-23T11:00:00Z', now), -1)
  // Regression: the ops page read these with Date.parse, which rolls 30 February over to 2 March and reads "soon 1".
  t.equal(hoursUntil('2027-02-30T00:00:00Z', now), undefined)
  t.equal(daysUntil('2027-02-30T00:00:00Z', now), undefined, 'as daysUntil')
  t.equal(hoursUntil('soon 1', now), undefined)
})

for (const kind of STORE_KINDS) {
  t.test(`${kind} store: silent until 30 days, warns daily from 30, errors from 7, and after expiry`, async (t) => {
    const clock = new ManualClock()
    const { store } = await openTestStore(t, kind, { clock })
    const lines: string[] = []
    const logger = createLogger({ level: 'info', destination: memoryLogStream(lines) })
    const expiresAt = new Date(clock.now() + 40 * DAY_MS).toISOString()
    await store.put('jira-main', CREDENTIAL, { metadata: { expires_at: expiresAt } })
    await store.put('wiki-main', CREDENTIAL)
    const expiry = new CredentialExpiry({ store, clock, logger, integrations: ['jira-main', 'wiki-main', 'never-stored'] })
    const watcher = new ExpiryWatcher({ expiry, clock, logger })
    t.teardown(() => watcher.stop())
    watcher.start()
    await watcher.settled()
    const expiryLines = (): Array<{ level: string, integration: string, daysToExpiry: number, msg: string }> =>
      lines.map((line) => JSON.parse(line)).filter((entry) => entry.daysToExpiry !== undefined)

    t.equal(expiry.daysToExpiry('jira-main'), 40)
    t.equal(expiry.daysToExpiry('wiki-main'), undefined, 'no expires_at, no number')
    t.same(expiryLines(), [], '40 days out: nothing logged')

    await clock.advance(9 * DAY_MS)
    await watcher.settled()
    t.equal(expiry.daysToExpiry('jira-main'), 31)
    t.same(expiryLines(), [], '31 days out: still quiet')

    await clock.advance(DAY_MS)
    await watcher.settled()
    t.match(expiryLines(), [{ level: 'warn', integration: 'jira-main', daysToExpiry: 30, msg: /expires in 30 day\(s\); plan its rotation/ }])

    await clock.advance(DAY_MS)
    await watcher.settled()
    t.equal(expiryLines().length, 2, 'once a day')

    await clock.advance(22 * DAY_MS)
    await watcher.settled()
    const last = expiryLines().at(-1)
    t.match(last, { level: 'error', daysToExpiry: 7, msg: /expires in 7 day\(s\); rotate it now: atlassian-broker secrets rotate jira-main/ })
    t.ok(expiryLines().filter((entry) => entry.daysToExpiry === 8).every((entry) => entry.level === 'warn'), '8 days out was a warning')

    await clock.advance(8 * DAY_MS)
    await watcher.settled()
    t.match(expiryLines().at(-1), { level: 'error', daysToExpiry: -1, msg: /expired 1 day\(s\) ago/ })
    t.notOk(lines.some((line) => line.includes('expiry-test-secret-value')), 'no secret in the log')
  })

  t.test(`${kind} store: a rotation with a new expiry is seen at the next check, or at once through note()`, async (t) => {
    const clock = new ManualClock()
    const { store } = await openTestStore(t, kind, { clock })
    const logger = createLogger({ level: 'silent' })
    await store.put('jira-main', CREDENTIAL, { metadata: { expires_at: new Date(clock.now() + 5 * DAY_MS).toISOString() } })
    const expiry = new CredentialExpiry({ store, clock, logger, integrations: ['jira-main'] })
    const watcher = new ExpiryWatcher({ expiry, clock, logger })
    t.teardown(() => watcher.stop())
    watcher.start()
    await watcher.settled()
    t.equal(expiry.daysToExpiry('jira-main'), 5)
    await store.put('jira-main', CREDENTIAL, { metadata: { expires_at: new Date(clock.now() + 90 * DAY_MS).toISOString() } })
    t.equal(expiry.daysToExpiry('jira-main'), 5, 'not re-read before the next daily check')
    await clock.advance(DAY_MS)
    await watcher.settled()
    t.equal(expiry.daysToExpiry('jira-main'), 89)
    expiry.note('jira-main', new Date(clock.now() + 10 * DAY_MS).toISOString())
    t.equal(expiry.daysToExpiry('jira-main'), 10)
  })
}

t.test('a store that cannot be read: a warning, the next check still scheduled', async (t) => {
  const clock = new ManualClock()
  const lines: string[] = []
  const logger = createLogger({ level: 'info', destination: memoryLogStream(lines) })
  let calls = 0
  const store = { list: async () => { calls++; throw Object.assign(new Error('down'), { code: 'BROKER_ERR_SECRET_STORE_UNAVAILABLE' }) } }
  const expiry = new CredentialExpiry({ store: store as never, clock, logger, integrations: ['jira-main'] })
  const watcher = new ExpiryWatcher({ expiry, clock, logger })
  watcher.start()
  await watcher.settled()
  t.match(lines.join('\n'), /could not read credential expiry/)
  await clock.advance(DAY_MS)
  await watcher.settled()
  t.equal(calls, 2)
  watcher.stop()
  t.equal(clock.pendingTimers, 0, 'stop() clears the timer')
})
