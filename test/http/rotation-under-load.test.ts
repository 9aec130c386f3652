/**
 * Rotation under load: a steady stream of caller requests flows while the secret is rotated and Atlassian then refuses
 * the old one and revokes its tokens. Zero caller requests may fail. Also the overlap paths that do not go through this
 * broker's admin API (a version written elsewhere) and the fallback when Atlassian later rejects the new version.
 */
import t from 'tap'
import { request } from 'undici'
import { CLIENT_ID, CLIENT_SECRET } from '../helpers/broker-harness.js'
import { startAdminHarness, type AdminHarness } from '../helpers/admin-harness.js'
import { STORE_KINDS } from '../helpers/test-stores.js'

const NEW_SECRET = 'svc-client-secret-UNDER-LOAD-77777'
const SECOND_CLIENT = 'svc-client-id-2'

interface Load {
  total: () => number
  failures: () => Array<{ status: number, code?: string }>
  waitFor: (more: number) => Promise<void>
  stop: () => Promise<void>
}

/** Four callers, each sending the next request as soon as the last one answered. */
function startLoad (h: AdminHarness, workers = 4): Load {
  let total = 0
  let running = true
  const failures: Array<{ status: number, code?: string }> = []
  const token = h.callerToken('report-job')
  const worker = async (): Promise<void> => {
    while (running) {
      const response = await request(`${h.url}/proxy/jira-main/rest/api/3/myself`, { headers: { authorization: `Bearer ${token}` } })
      const text = await response.body.text()
      total++
      if (response.statusCode !== 200) {
        failures.push({ status: response.statusCode, code: (JSON.parse(text) as { code?: string }).code })
      }
    }
  }
  const done = Promise.all(Array.from({ length: workers }, worker))
  return {
    total: () => total,
    failures: () => failures,
    waitFor: async (more) => {
      const target = total + more
      while (total < target) await new Promise((resolve) => setTimeout(resolve, 5))
    },
    stop: async () => { running = false; await done }
  }
}

async function rotateViaApi (h: AdminHarness, credential: Record<string, string>): Promise<Record<string, unknown>> {
  const response = await request(`${h.url}/admin/integrations/jira-main/rotate`, {
    method: 'POST', headers: { authorization: `Bearer ${h.adminToken()}`, 'content-type': 'application/json' }, body: JSON.stringify({ credential })
  })
  const body = await response.body.json() as Record<string, unknown>
  if (response.statusCode !== 200) throw new Error(`rotation answered ${response.statusCode}: ${JSON.stringify(body)}`)
  return body
}

const lastGatewayClient = (h: AdminHarness): string | undefined => h.fake.requests.filter((r) => r.endpoint === 'gateway').at(-1)?.clientId

for (const kind of STORE_KINDS) {
  t.test(`${kind} store: secret regenerated at Atlassian, rotated through the admin API under load: zero failed requests`, async (t) => {
    const h = await startAdminHarness(t, kind)
    const load = startLoad(h)
    await load.waitFor(50)
    h.fake.setClientSecret(CLIENT_ID, NEW_SECRET) // the old secret is refused from now on; minted tokens live on
    t.match(await rotateViaApi(h, { client_id: CLIENT_ID, client_secret: NEW_SECRET }), {
      oldVersion: 1,
      newVersion: 2
    })
    await load.waitFor(50)
    h.fake.revokeTokensOf(CLIENT_ID) // and Atlassian revokes what the old secret minted
    await load.waitFor(100)
    await load.stop()
    t.same(load.failures(), [], `zero failed caller requests out of ${load.total()}`)
    t.match((await h.admin('GET', '/admin/integrations/jira-main')).body, { storeVersion: 2, versionInUse: 2, accessToken: { secretVersion: 2 }, fallbackFrom: null })
  })

  t.test(`${kind} store: a second credential, rotated, then the old one deleted at Atlassian under load: zero failed requests`, async (t) => {
    const h = await startAdminHarness(t, kind)
    h.fake.addClient(SECOND_CLIENT, NEW_SECRET)
    const load = startLoad(h)
    await load.waitFor(50)
    await rotateViaApi(h, { client_id: SECOND_CLIENT, client_secret: NEW_SECRET })
    await load.waitFor(50)
    t.equal(lastGatewayClient(h), CLIENT_ID, 'overlap: the token minted from the old credential is still in use')
    h.fake.removeClient(CLIENT_ID) // rejects the old credential and revokes its tokens
    await load.waitFor(100)
    await load.stop()
    t.same(load.failures(), [], `zero failed caller requests out of ${load.total()}`)
    t.equal(lastGatewayClient(h), SECOND_CLIENT)
  })

  t.test(`${kind} store: a version written elsewhere (CLI, another broker) is found at once when the old one is refused`, async (t) => {
    const h = await startAdminHarness(t, kind)
    const load = startLoad(h)
    await load.waitFor(50)
    h.fake.setClientSecret(CLIENT_ID, NEW_SECRET)
    await h.store.put('jira-main', { client_id: CLIENT_ID, client_secret: NEW_SECRET }, { cas: 1 }) // not adopted by this broker
    h.fake.revokeTokensOf(CLIENT_ID)
    await load.waitFor(100)
    await load.stop()
    t.same(load.failures(), [], `zero failed caller requests out of ${load.total()}`)
    t.equal(h.broker.credentials.cachedVersion('jira-main'), 2)
    t.ok(h.logs.some((line) => line.includes('a newer version is in the store')))
  })

  t.test(`${kind} store: the new version rejected later: fall back to the previous one, loudly, with zero failed requests`, async (t) => {
    const h = await startAdminHarness(t, kind)
    h.fake.addClient(SECOND_CLIENT, NEW_SECRET)
    const load = startLoad(h)
    await load.waitFor(50)
    await rotateViaApi(h, { client_id: SECOND_CLIENT, client_secret: NEW_SECRET })
    await load.waitFor(20)
    h.fake.removeClient(SECOND_CLIENT) // someone deletes the new credential at Atlassian by mistake
    // and the cached token (from version 1) dies: the next exchange must pick a version
    h.fake.revokeTokensOf(CLIENT_ID)
    await load.waitFor(100)
    await load.stop()
    t.same(load.failures(), [], `zero failed caller requests out of ${load.total()}`)
    t.equal(lastGatewayClient(h), CLIENT_ID, 'traffic runs on version 1 again')
    const fallbackLines = h.logs.map((line) => JSON.parse(line) as { level: string, msg: string }).filter((entry) => entry.msg === 'falling back to version 1 of jira-main: version 2 was rejected by Atlassian')
    t.equal(fallbackLines.length, 1, 'said once, at error level')
    t.equal(fallbackLines[0]?.level, 'error')
    t.match((await h.admin('GET', '/admin/integrations/jira-main')).body, { storeVersion: 2, versionInUse: 1, fallbackFrom: 2, accessToken: { secretVersion: 1 } })

    const before = h.fake.exchangesFor(SECOND_CLIENT)
    t.equal((await h.admin('DELETE', '/admin/integrations/jira-main/token')).statusCode, 200)
    const again = await request(`${h.url}/proxy/jira-main/rest/api/3/myself`, { headers: { authorization: `Bearer ${h.callerToken('report-job')}` } })
    await again.body.dump()
    t.equal(again.statusCode, 200, 'dropping the token retries version 2 and falls back again')
    t.equal(h.fake.exchangesFor(SECOND_CLIENT), before + 1)

    h.fake.addClient('svc-client-id-3', 'svc-client-secret-THIRD-000000')
    await rotateViaApi(h, { client_id: 'svc-client-id-3', client_secret: 'svc-client-secret-THIRD-000000' })
    t.match((await h.admin('GET', '/admin/integrations/jira-main')).body, { storeVersion: 3, versionInUse: 3, fallbackFrom: null }, 'a new version ends the fallback')
    t.notOk(h.logs.some((line) => line.includes(NEW_SECRET) || line.includes(CLIENT_SECRET)), 'no secret in the log')
  })
}

for (const kind of STORE_KINDS) {
  t.test(`${kind} store: an API token rotated elsewhere is picked up on Atlassian's first 401, and the request replayed`, async (t) => {
    const h = await startAdminHarness(t, kind, {
      empty: true,
      config: {
        integrations: {
          'jira-main': { product: 'jira', cloudId: '11111111-1111-1111-1111-111111111111', credential: 'api-token' },
          'wiki-main': { product: 'confluence', cloudId: '22222222-2222-2222-2222-222222222222', credential: 'api-token' }
        }
      }
    })
    h.fake.addApiToken('scoped-token-old-1111')
    h.fake.addApiToken('scoped-token-new-2222')
    await h.store.put('jira-main', { token: 'scoped-token-old-1111' })
    const load = startLoad(h, 2)
    await load.waitFor(20)
    await h.store.put('jira-main', { token: 'scoped-token-new-2222' }, { cas: 1 }) // e.g. `secrets rotate` on another machine
    h.fake.removeApiToken('scoped-token-old-1111')
    await load.waitFor(40)
    await load.stop()
    t.same(load.failures(), [], `zero failed caller requests out of ${load.total()}`)
    t.equal(h.fake.requests.filter((r) => r.endpoint === 'gateway').at(-1)?.apiToken, 'scoped-token-new-2222')
  })
}
