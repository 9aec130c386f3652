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

t.test('the ops page rotates and rolls back through the audited routes, only after a confirmation', { skip: SKIP_WITHOUT_CHROMIUM }, async (t) => {
  const { h, url } = await adminListener(t)
  const browser = await launchChromium(t)
  const page = await browser.newPage({ viewport: { width: 800, height: 900 } })
  const problems: string[] = []
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`))
  await page.goto(`${url}/admin`)
  await page.click('#credentials-body button[data-history="jira-main"]')
  await page.locator('#history-body tr[data-version="1"]').waitFor({ timeout: 30_000 })
  t.match(await page.locator('#history-body tr[data-version="1"] td[data-field="state"]').innerText(), /^current/)
  const credential = JSON.stringify({ client_id: CLIENT_ID, client_secret: CLIENT_SECRET })

  // Cancel: nothing is sent.
  await page.fill('#rotate-credential', credential)
  await page.click('#rotate-form button[type=submit]')
  t.ok(await page.locator('#confirm').isVisible(), 'a confirmation is asked first')
  t.match(await page.locator('#confirm-text').innerText(), /^Rotate jira-main /)
  await page.click('#confirm-no')
  await page.locator('#action-result', { hasText: 'Nothing changed.' }).waitFor({ timeout: 30_000 })
  t.equal(await h.store.currentVersion('jira-main'), 1, 'cancelled: no write')
  t.equal(await page.inputValue('#rotate-credential'), '', 'the credential typed in is not kept on the page')

  // Confirm: rotated through the admin route, audited as the CLI's writes are.
  await page.fill('#rotate-credential', credential)
  await page.click('#rotate-form button[type=submit]')
  t.ok(await page.locator('#confirm-yes').isDisabled(), 'the page asks why before it confirms')
  await page.fill('#confirm-reason', 'INC-4821: secret seen in a CI log')
  await page.click('#confirm-yes')
  await page.locator('#history-body tr[data-version="2"]').waitFor({ timeout: 30_000 })
  t.equal(await page.locator('#history-body tr[data-version="2"] td[data-field="reason"]').innerText(), 'INC-4821: secret seen in a CI log',
    'the reason typed into the confirmation is in the history')
  t.equal(await h.store.currentVersion('jira-main'), 2, 'rotated: version 2')
  t.match(await page.locator('#action-result').innerText(), /^rotated: new exchanges use version 2/)

  await page.click('#history-body button[data-rollback="1"]')
  t.match(await page.locator('#confirm-text').innerText(), /^Roll jira-main back to the credential of version 1\?/)
  t.equal(await page.inputValue('#confirm-reason'), '', 'each confirmation starts without a reason')
  await page.fill('#confirm-reason', 'new secret lacks a scope')
  await page.press('#confirm-reason', 'Enter')
  await page.locator('#history-body tr[data-version="3"]').waitFor({ timeout: 30_000 })
  t.equal(await page.locator('#history-body tr[data-version="3"] td[data-field="reason"]').innerText(), 'new secret lacks a scope')
  t.equal(await page.locator('#history-body tr[data-version="1"] td[data-field="reason"]').innerText(), '-', 'none given: a dash')
  t.equal(await h.store.currentVersion('jira-main'), 3, 'rolled back: version 3 holds version 1\'s credential')
  const records = await auditRecords(h, 2)
  t.match(records, [
    { action: 'rotate', actor: 'admin-listener', via: 'admin-listener', outcome: 'ok', newVersion: 2, reason: 'INC-4821: secret seen in a CI log' },
    { action: 'rollback', actor: 'admin-listener', via: 'admin-listener', outcome: 'ok', newVersion: 3, reason: 'new secret lacks a scope' }
  ], 'one audit record per change, none for the cancelled one')
  t.notOk((await page.content()).includes(CLIENT_SECRET), 'the credential is not on the page')
  t.same(problems, [])
})
