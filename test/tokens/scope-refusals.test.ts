/** The scope-refusal cooldown on its own: one refresh, then none; doubling to the cap; a new episode after quiet. */
import pino from 'pino'
import t from 'tap'
import type { AccessGrant } from '../../src/tokens/grant.js'
import { SCOPE_REFUSAL_COOLDOWN, ScopeRefusals } from '../../src/tokens/scope-refusals.js'
import { ManualClock } from '../helpers/manual-clock.js'

const grant = (): AccessGrant => ({ authorization: 'Basic x', secretVersion: 1, expiresAt: undefined })

t.test('a grant never minted here (an API token) gets one refresh; the next refusal starts the cooldown', async (t) => {
  const clock = new ManualClock()
  const suppressed: string[] = []
  const refusals = new ScopeRefusals(clock, pino({ enabled: false }), (integration) => suppressed.push(integration))
  const apiToken = grant()
  t.equal(refusals.refused('wiki', apiToken), 'refresh')
  t.equal(refusals.cooldownUntil('wiki'), undefined)
  t.equal(refusals.refused('wiki', apiToken), 'suppress')
  t.equal(refusals.cooldownUntil('wiki'), clock.now() + SCOPE_REFUSAL_COOLDOWN.baseMs)
  t.same(suppressed, ['wiki'])
  t.equal(refusals.cooldownUntil('jira'), undefined, 'per integration')
})

t.test('cooldowns double while refusals continue, up to the cap, and start over after a quiet hour', async (t) => {
  const clock = new ManualClock()
  const refusals = new ScopeRefusals(clock, pino({ enabled: false }))
  const lengths: number[] = []
  for (let i = 0; i < 6; i++) {
    const token = grant()
    refusals.obtained(token)
    t.equal(refusals.refused('jira', token), 'suppress', 'a fresh token is never refreshed')
    const until = refusals.cooldownUntil('jira') ?? 0
    lengths.push((until - clock.now()) / 60_000)
    await clock.advance(until - clock.now())
    t.equal(refusals.cooldownUntil('jira'), undefined, 'ended')
  }
  t.same(lengths, [5, 10, 20, 40, 60, 60], 'minutes')
  await clock.advance(SCOPE_REFUSAL_COOLDOWN.maxMs)
  const token = grant()
  refusals.obtained(token)
  refusals.refused('jira', token)
  t.equal(refusals.cooldownUntil('jira'), clock.now() + SCOPE_REFUSAL_COOLDOWN.baseMs, 'a new episode')
  refusals.forget('jira')
  t.equal(refusals.cooldownUntil('jira'), undefined, 'forgotten on a new credential or a drop')
})
