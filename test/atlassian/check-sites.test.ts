import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { Writable } from 'node:stream'
import t from 'tap'
import { runCheck } from '../../src/cli/check-command.js'
import { FakeAtlassian } from '../helpers/fake-atlassian.js'

const CLOUD_ID = '11111111-2222-3333-4444-555555555555'

function capture (): { out: Writable, text: () => string } {
  let text = ''
  const out = new Writable({ write (chunk: Buffer | string, _encoding, done) { text += chunk.toString(); done() } })
  return { out, text: () => text }
}

t.test('check looks each site up and names the one it cannot resolve', async (t) => {
  const fake = await FakeAtlassian.start({ t })
  fake.setSiteName('acme.atlassian.net', CLOUD_ID)
  const dir = t.testdir({})
  const file = path.join(dir, 'broker.yaml')
  writeFileSync(file, `
dataDir: ./data
atlassian: { tokenUrl: ${fake.tokenUrl}, siteUrl: "${fake.siteUrl}" }
callers: { jwt: { hs256Secret: "0123456789abcdef0123456789abcdef" } }
integrations:
  jira-main: { product: jira, site: acme.atlassian.net }
  wiki-main: { product: confluence, site: typo.atlassian.net }
`)
  const { out, text } = capture()
  t.equal(await runCheck(file, { offline: false, out, env: {} }), false)
  t.match(text(), `✔ site acme.atlassian.net: cloudId ${CLOUD_ID} (integration jira-main)`)
  t.match(text(), /✖ integrations\.wiki-main\.site: could not look up the cloudId of typo\.atlassian\.net \(typo\.atlassian\.net answered 404/)
  t.match(text(), 'jira-main: jira, site acme.atlassian.net, oauth credential')
  t.equal(fake.tenantInfoRequests('acme.atlassian.net'), 1)
  const offline = capture()
  await runCheck(file, { offline: true, out: offline.out, env: {} })
  t.equal(fake.tenantInfoRequests('acme.atlassian.net'), 1, 'offline asks no site')
})
