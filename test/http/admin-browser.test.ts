/**
 * The admin listener against a real Chromium (issue 24, item 2): a page on another site tries the two rollbacks that
 * once worked (a `no-cors` fetch and `navigator.sendBeacon`) and the browser's own headers get them refused and
 * audited; the ops page served by the admin listener still shows its data (its same-origin fetches pass); and the
 * page's CSV download neutralizes every cell a spreadsheet could run as a formula (OWASP CSV injection).
 */
import { createServer } from 'node:http'
import t, { type Test } from 'tap'
import { listenAdmin } from '../../src/http/admin-listener.js'
import { SKIP_WITHOUT_CHROMIUM, launchChromium } from '../helpers/chromium.js'
import { startAdminHarness, type AdminHarness } from '../helpers/admin-harness.js'
import { CLIENT_ID, CLIENT_SECRET } from '../helpers/broker-harness.js'

async function adminListener (t: Test): Promise<{ h: AdminHarness, url: string }> {
  const h = await startAdminHarness(t, 'file', { admin: { role: undefined, listen: { host: '127.0.0.1', port: 0 } } })
  const app = h.broker.credentialAdmin.adminApp
  if (app === undefined) throw new Error('no admin listener built')
  return { h, url: await listenAdmin(app, { host: '127.0.0.1', port: 0 }) }
}

/** Polls (bounded by count, not by a time assertion) until the audit file holds `count` records. */
async function auditRecords (h: AdminHarness, count: number): Promise<Array<Record<string, unknown>>> {
  for (let i = 0; i < 500 && h.auditRecords().length < count; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return h.auditRecords()
}

t.test('regression: a page on another site rolled back credentials through the loopback admin listener', { skip: SKIP_WITHOUT_CHROMIUM }, async (t) => {
  const { h, url } = await adminListener(t)
  const rotated = await fetch(`${url}/admin/integrations/jira-main/rotate`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ credential: { client_id: CLIENT_ID, client_secret: CLIENT_SECRET } })
  })
  t.equal(rotated.status, 200, 'an operator\'s rotation (not a browser): version 2')
  // The attacker's page, on another origin of this machine (localhost is another site than 127.0.0.1).
  const attacker = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><title>cat pictures</title><script>
      fetch(${JSON.stringify(`${url}/admin/integrations/jira-main/rollback`)}, { method: 'POST', mode: 'no-cors' }).finally(() => { document.title = 'fetched' })
      navigator.sendBeacon(${JSON.stringify(`${url}/admin/integrations/jira-main/rollback`)}, '{}')
    </script>`)
  })
  await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { attacker.close() })
  const address = attacker.address()
  if (address === null || typeof address === 'string') throw new Error('no attacker address')
  const browser = await launchChromium(t)
  const page = await browser.newPage()
  await page.goto(`http://localhost:${address.port}/`)
  const records = await auditRecords(h, 3)
  t.equal(records.length, 3, 'the rotation, and one record per attempt')
  t.match(records.slice(1), [
    { action: 'rollback', actor: 'admin-listener', outcome: 'refused', code: 'BROKER_ERR_CROSS_ORIGIN_REFUSED' },
    { action: 'rollback', actor: 'admin-listener', outcome: 'refused', code: 'BROKER_ERR_CROSS_ORIGIN_REFUSED' }
  ], 'both refused by what the browser said about itself')
  t.equal(await h.store.currentVersion('jira-main'), 2, 'no rollback happened')
})

t.test('the ops page on the admin listener shows its data, and its CSV neutralizes formulas', { skip: SKIP_WITHOUT_CHROMIUM }, async (t) => {
  const { url } = await adminListener(t)
  const browser = await launchChromium(t)
  const page = await browser.newPage()
  const problems: string[] = []
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`))
  page.on('console', (message) => { if (message.type() === 'error') problems.push(`console: ${message.text()}`) })
  await page.goto(`${url}/admin`)
  await page.locator('#credentials-body tr[data-integration="jira-main"]').waitFor({ timeout: 30_000 })
  t.equal(await page.locator('#credentials-body tr').count(), 2, 'no token asked for: both integrations shown')
  t.same(problems, [], 'no script error, no refused request')

  // toCsv is the page's one CSV writer (ops-page-render.js); every download goes through it.
  const cells = [
    '=1+1', '+1', '-1', '@SUM(A1)', '\tx', '\rx', '\nx', ' =1+1', '  @x', '\t=1', '\n=1', '\u00a0=1', '\uff1d1+1', '\uff0b1', '\uff0d1', '\uff20x', ' \uff1d1',
    'report-job', 'a-b', 'x=1', ''
  ]
  const csv = await page.evaluate<string>(`toCsv(['cell'], ${JSON.stringify(cells.map((cell) => ({ cell })))})`)
  const written = csv.split('\r\n').slice(1, -1)
  const unquote = (field: string): string => field.startsWith('"') ? field.slice(1, -1).replace(/""/g, '"') : field
  cells.forEach((cell, index) => {
    const field = unquote(written[index] ?? '')
    const formula = index < 17
    t.equal(field, formula ? `'${cell}` : cell, `${JSON.stringify(cell)}: ${formula ? 'a leading quote keeps it text' : 'as it is'}`)
  })
})
