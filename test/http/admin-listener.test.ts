/** The dedicated admin listener: a unix socket (0600) or loopback port serving the admin API without a caller token. */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import t from 'tap'
import { Client, request } from 'undici'
import { listenAdmin } from '../../src/http/admin-listener.js'
import { createBroker } from '../../src/broker.js'
import { parseConfig } from '../../src/config/load.js'
import { createLogger } from '../../src/logger.js'
import { CALLER_SECRET, CLIENT_ID, CLIENT_SECRET, startHarness } from '../helpers/broker-harness.js'
import { STORE_KINDS, openTestStore } from '../helpers/test-stores.js'

const jwt = { audience: 'atlassian-broker', hs256Secret: CALLER_SECRET }

for (const kind of STORE_KINDS) {
  t.test(`${kind} store: unix socket listener, mode 0600, no token needed; the main listener stays closed`, async (t) => {
    const dir = t.testdir({})
    // Unix socket paths must be short (sun_path): not under the long tap fixture folder.
    const socketDir = mkdtempSync(`${tmpdir()}/abk-`)
    t.teardown(() => rmSync(socketDir, { recursive: true, force: true }))
    const socket = `${socketDir}/admin.sock`
    const auditFile = `${dir}/audit.jsonl`
    const { store } = await openTestStore(t, kind)
    const h = await startHarness(t, { store, config: { callers: { jwt, admin: { listen: { socket }, auditFile } } } })
    const adminApp = h.broker.credentialAdmin.adminApp
    if (adminApp === undefined) throw new Error('no admin listener built')
    t.equal(await listenAdmin(adminApp, { host: '127.0.0.1', socket }), `unix:${socket}`)
    t.equal(statSync(socket).mode & 0o777, 0o600)

    const main = await request(`${h.url}/admin/integrations`, { headers: { authorization: `Bearer ${h.callerToken('ops', { roles: ['broker-admin'] })}` } })
    t.equal(main.statusCode, 403, 'no role configured: the main listener refuses')
    await main.body.dump()

    const client = new Client('http://localhost', { socketPath: socket })
    t.teardown(() => client.close())
    const listed = await client.request({ method: 'GET', path: '/admin/integrations' })
    t.equal(listed.statusCode, 200)
    t.match(await listed.body.json(), { store: kind, integrations: [{ integration: 'jira-main', storeVersion: 1 }, { integration: 'wiki-main' }] })

    const rotated = await client.request({
      method: 'POST',
      path: '/admin/integrations/jira-main/rotate',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ credential: { client_id: CLIENT_ID, client_secret: CLIENT_SECRET } })
    })
    t.equal(rotated.statusCode, 200)
    await rotated.body.dump()
    const proxy = await client.request({ method: 'GET', path: '/proxy/jira-main/rest/api/3/myself' })
    t.equal(proxy.statusCode, 404, 'only the admin API is served there')
    await proxy.body.dump()
    await h.broker.close()
    const audit = readFileSync(auditFile, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>)
    t.match(audit, [{ actor: 'admin-listener', via: 'admin-listener', action: 'rotate', outcome: 'ok', oldVersion: 1, newVersion: 2 }])
  })
}

t.test('loopback port listener; any other host is refused at startup', async (t) => {
  const h = await startHarness(t, { config: { callers: { jwt, admin: { listen: { host: '127.0.0.1', port: 0 } } } } })
  const adminApp = h.broker.credentialAdmin.adminApp
  if (adminApp === undefined) throw new Error('no admin listener built')
  const address = await listenAdmin(adminApp, { host: '127.0.0.1', port: 0 })
  t.match(address, /^http:\/\/127\.0\.0\.1:\d+$/)
  const listed = await request(`${address}/admin/integrations/jira-main`)
  t.equal(listed.statusCode, 200)
  t.match(await listed.body.json(), { integration: 'jira-main' })

  const config = parseConfig({ callers: { jwt, admin: { listen: { host: '0.0.0.0', port: 9000 } } }, secrets: { store: 'file', file: { path: `${t.testdir({})}/s.enc` } } }, 'test', {})
  await t.rejects(createBroker(config, { logger: createLogger({ level: 'silent' }), store: h.store }), /must be a loopback address/)
  await t.rejects(listenAdmin(adminApp, { host: '127.0.0.1', socket: `/tmp/${'x'.repeat(120)}.sock` }), /unix socket paths must stay under/)
})
