/** Regression (issue 24 §4): expiry read the integrations of the start only; one a reload added had no gauge or
 *  warning. With a live source it follows the config. */
import t from 'tap'
import { LiveConfig } from '../../src/config/live-config.js'
import { CredentialExpiry } from '../../src/credentials/expiry.js'
import { decodeEvent, encodeEvent } from '../../src/fleet/fleet-events.js'
import { createLogger } from '../../src/logger.js'
import type { SecretStore } from '../../src/secrets/secret-store.js'
import { ManualClock } from '../helpers/manual-clock.js'

const JIRA = '11111111-1111-1111-1111-111111111111'

t.test('expiry and fleet events read the live integrations', async (t) => {
  const live = new LiveConfig({ 'jira-main': { product: 'jira', credential: 'oauth', cloudId: JIRA } }, [], () => new Date())
  const expiry = new CredentialExpiry({
    store: {} as SecretStore,
    clock: new ManualClock(),
    logger: createLogger({ level: 'silent' }),
    integrations: () => Object.keys(live.integrations)
  })
  const known = { has: (name: string) => Object.hasOwn(live.integrations, name) }
  const check = { known, keyFor: () => undefined, now: 0 }
  // A credential event: the one kind that carries no MAC, so this checks only which integrations are known.
  const event = encodeEvent({ type: 'credential', integration: 'wiki-main', version: 2 }, 'pod-b')
  t.same([...expiry.integrations], ['jira-main'])
  t.equal(decodeEvent(event, check), 'malformed', 'an event for an unknown integration is ignored')
  live.swap({ ...live.integrations, 'wiki-main': { product: 'confluence', credential: 'oauth', cloudId: JIRA } }, [], () => new Date())
  t.same([...expiry.integrations], ['jira-main', 'wiki-main'], 'the added integration is watched')
  t.match(decodeEvent(event, check), { event: { type: 'credential', integration: 'wiki-main', version: 2 } }, 'and its fleet events are heard')
})
