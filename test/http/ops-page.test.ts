/**
 * The ops page in real Chromium (Debian's chromium driven by playwright-core) against a live broker on loopback with
 * traffic through the fake Atlassian: the figures on screen are the calls sent, by outcome; the credential expiring
 * in 2 days is marked; markup in a caller's name stays text; the selection lives in the URL; downloads hold what is
 * on screen; dark mode and the keyboard work. Leaves test-artifacts/admin-ops*.png.
 */
import { mkdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Page } from 'playwright-core'
import t from 'tap'
import { request } from 'undici'
import { CALL_OUTCOMES } from '../../src/usage/call-outcome.js'
import { SKIP_WITHOUT_CHROMIUM, launchChromium } from '../helpers/chromium.js'
import { CALLER_SECRET, CLIENT_ID, CLIENT_SECRET, MASTER_KEY, startHarness, type Harness } from '../helpers/broker-harness.js'
import { HTML_CALLER, OPS_POLICY, key, sendOpsTraffic, setExpiries, type Expected } from '../helpers/ops-traffic.js'

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url))
const CALLERS = { jwt: { audience: 'atlassian-broker', hs256Secret: CALLER_SECRET }, admin: { role: 'broker-admin' } }

type Row = { caller: string, integration: string, cells: Record<string, string> }

/** Every row of a table body: its data-* names and each cell's text by data-field. */
const rowsOf = (page: Page, body: string): Promise<Row[]> => page.evaluate(`[...document.querySelectorAll('#${body} tr')].map((row) => ({
  caller: row.dataset.caller ?? '',
  integration: row.dataset.integration ?? '',
  cells: Object.fromEntries([...row.querySelectorAll('td')].map((cell) => [cell.dataset.field ?? '', cell.textContent ?? '']))
}))`)

/** Waits (playwright's own bounded polling) until the outcomes table has `count` rows; asserts nothing about time. */
async function outcomeRows (page: Page, count: number): Promise<void> {
  // Locator waits, not waitForFunction: the page's CSP forbids the eval a string predicate needs.
  const rows = page.locator('#outcomes-body tr')
  await rows.nth(count - 1).waitFor({ timeout: 30_000 })
  await rows.nth(count).waitFor({ state: 'detached', timeout: 30_000 })
}

async function signIn (page: Page, h: Harness): Promise<string> {
  const adminJwt = h.callerToken('ops-alice', { roles: ['broker-admin'] })
  await page.fill('#token', adminJwt)
  await page.click('#login button[type=submit]')
  return adminJwt
}

/** A small RFC 4180 reader (quoted fields, doubled quotes, CRLF). */
function parseCsv (text: string): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let field = ''
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const char = text[i] as string
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') { field += '"'; i++ } else if (char === '"') quoted = false
      else field += char
    } else if (char === '"') quoted = true
    else if (char === ',') { row.push(field); field = '' } else if (char === '\n') { row.push(field.replace(/\r$/, '')); rows.push(row); row = []; field = '' } else field += char
  }
  return rows
}

function countsIn (rows: Row[]): Record<string, Record<string, number>> {
  const seen: Record<string, Record<string, number>> = {}
  for (const row of rows) {
    const counts: Record<string, number> = {}
    for (const outcome of CALL_OUTCOMES) {
      const value = Number(row.cells[outcome])
      if (value > 0) counts[outcome] = value
    }
    seen[key(row.caller, row.integration)] = counts
  }
  return seen
}

t.test('the ops page shows the calls sent, by outcome, the expiring credential and the headroom', { skip: SKIP_WITHOUT_CHROMIUM }, async (t) => {
  const h = await startHarness(t, { config: { callers: CALLERS, policy: OPS_POLICY } })
  const expected: Expected = await sendOpsTraffic(h)
  await setExpiries(h)
  const browser = await launchChromium(t)
  const page = await browser.newPage({ viewport: { width: 1300, height: 1000 } })
  const problems: string[] = []
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`))
  page.on('console', (message) => { if (message.type() === 'error' && !/401/.test(message.text())) problems.push(`console: ${message.text()}`) })

  await page.goto(`${h.url}/admin`)
  // Once the page's first fetches have answered (its status says so), not just after `load`: else this reads nothing.
  await page.locator('#status', { hasText: /\S/ }).waitFor()
  t.equal(await page.locator('#outcomes-body tr').count(), 0, 'no data before a token is given')
  const adminJwt = await signIn(page, h)
  await outcomeRows(page, Object.keys(expected).length)

  t.same(countsIn(await rowsOf(page, 'outcomes-body')), expected, 'per caller and integration: the counts sent, by outcome')
  const sent: Record<string, number> = {}
  for (const counts of Object.values(expected)) {
    for (const [outcome, n] of Object.entries(counts)) sent[outcome] = (sent[outcome] ?? 0) + (n ?? 0)
  }
  for (const outcome of CALL_OUTCOMES) {
    t.match(await page.locator(`#timeline-totals span[data-outcome="${outcome}"]`).innerText(), new RegExp(`: ${sent[outcome] ?? 0}$`), `timeline total of ${outcome}`)
  }
  t.ok(await page.locator('#chart-timeline rect[data-outcome="ok"]').count() >= 1, 'the per-minute chart has bars')

  // Markup in a caller's name is text, everywhere it appears.
  const htmlRow = (await rowsOf(page, 'outcomes-body')).find((row) => row.caller === HTML_CALLER)
  t.equal(htmlRow?.cells.caller, HTML_CALLER, 'the name is shown as typed')
  t.equal(await page.locator('img, b').count(), 0, 'no element was made from it')
  t.not(await page.title(), 'pwned', 'no script ran from it')
  t.ok((await page.locator('#caller option').allInnerTexts()).includes(HTML_CALLER), 'and it is a choice in the caller list, as text')

  // Credentials: the one expiring in 2 days is marked critical, the one in 10 days as soon.
  const jira = page.locator('#credentials-body tr[data-integration="jira-main"]')
  t.match(await jira.getAttribute('class'), /\bexpiry-critical\b/)
  t.equal(await jira.locator('td[data-field="timeLeft"]').innerText(), '2 days (critical)', 'whole days from two days up')
  t.equal(await jira.locator('td[data-field="owner"]').innerText(), 'team-platform')
  t.equal(await jira.locator('td[data-field="rotatedBy"]').innerText(), 'ops-alice')
  t.equal(await jira.locator('td[data-field="store"]').innerText(), 'file')
  t.match(await jira.locator('td[data-field="lastExchange"]').innerText(), /^ok at /)
  t.not(await jira.locator('td[data-field="tokenCachedUntil"]').innerText(), '-')
  t.equal(await jira.locator('td[data-field="scopeRefusal"]').innerText(), 'active', 'no scope-refusal cooldown')
  t.match(await page.locator('#credentials-body tr[data-integration="wiki-main"]').getAttribute('class'), /\bexpiry-warning\b/)
  t.equal(await page.locator('#credentials-body tr[data-integration="wiki-main"] td[data-field="timeLeft"]').innerText(), '10 days (soon)', 'the server\'s warning, shown as sent')
  t.same([await page.locator('#warn-days').innerText(), await page.locator('#critical-days').innerText()], ['30', '7'], 'the legend is the broker\'s configured thresholds')
  const background = (selector: string): Promise<string> => page.evaluate<string>(`getComputedStyle(document.querySelector(${JSON.stringify(selector)})).backgroundColor`)
  t.not(await background('#credentials-body tr[data-integration="jira-main"] td[data-field="integration"]'), await background('#credentials-body tr[data-integration="wiki-main"] td[data-field="integration"]'), 'critical and soon look different')

  // Headroom: the latest rate-limit headers, and the quota hold with its deadline.
  const jiraHeadroom = (await rowsOf(page, 'headroom-body')).find((row) => row.integration === 'jira-main')
  t.match(jiraHeadroom?.cells, { remaining: '0', limit: '350', reason: 'jira-burst-based', heldUntil: 'not held' })
  const wiki = page.locator('#headroom-body tr[data-integration="wiki-main"]')
  t.match(await wiki.getAttribute('class'), /\bheld\b/)
  t.match(await wiki.locator('td[data-field="heldUntil"]').innerText(), /^held until /)
  t.equal(await wiki.locator('td[data-field="reason"]').innerText(), 'confluence-quota-global-based')

  // CSV and JSON hold what is on screen.
  const [csvFile] = await Promise.all([page.waitForEvent('download'), page.click('button[data-csv="outcomes"]')])
  t.equal(csvFile.suggestedFilename(), 'atlassian-broker-outcomes.csv')
  const csv = parseCsv(readFileSync(await csvFile.path(), 'utf8'))
  t.same(csv[0], ['caller', 'integration', ...CALL_OUTCOMES, 'total'])
  const csvRows: Row[] = csv.slice(1).map((cells) => ({ caller: cells[0] ?? '', integration: cells[1] ?? '', cells: Object.fromEntries(CALL_OUTCOMES.map((outcome, i) => [outcome, cells[i + 2] ?? ''])) }))
  t.same(countsIn(csvRows), expected, 'the CSV matches the counts sent (the HTML name quoted, intact)')
  const [jsonFile] = await Promise.all([page.waitForEvent('download'), page.click('#download-json')])
  const jsonText = readFileSync(await jsonFile.path(), 'utf8')
  const json = JSON.parse(jsonText) as {
    outcomes: Array<Record<string, string | number>>
    credentials: Array<{ integration: string, expiryLevel: string }>
  }
  t.same(
    countsIn(
      json.outcomes.map((entry) => ({
        caller: String(entry.caller),
        integration: String(entry.integration),
        cells: Object.fromEntries(Object.entries(entry).map(([k, v]) => [k, String(v)]))
      }))
    ),
    expected
  )
  t.match(json.credentials, [{ integration: 'jira-main', expiryLevel: 'critical' }, { integration: 'wiki-main', expiryLevel: 'warning' }])

  // The selection: from the keyboard, into the URL, and back from a link.
  await page.locator('body').focus()
  let focused = ''
  for (let i = 0; i < 30 && focused !== 'caller'; i++) { await page.keyboard.press('Tab'); focused = await page.evaluate<string>('document.activeElement?.id ?? \'\'') }
  t.equal(focused, 'caller', 'the caller list is reached with Tab')
  await page.selectOption('#caller', 'sync-job')
  await outcomeRows(page, 1)
  t.match(page.url(), /[?&]caller=sync-job(&|$)/, 'the address carries the selection')
  t.match(await page.locator('#permalink').getAttribute('href'), /caller=sync-job/)
  t.match(await page.locator('#timeline-totals span[data-outcome="callerLimited"]').innerText(), /: 1$/, 'the timeline follows the selection')
  t.match(await page.locator('#timeline-totals span[data-outcome="ok"]').innerText(), /: 2$/)
  const [selectedCsv] = await Promise.all([page.waitForEvent('download'), page.click('button[data-csv="outcomes"]')])
  t.equal(parseCsv(readFileSync(await selectedCsv.path(), 'utf8')).length, 2, 'a download holds only what is shown: header and one row')

  const link = `${h.url}/admin?caller=report-job&integration=wiki-main&window=last1h`
  const second = await browser.newPage()
  await second.goto(`${h.url}/admin`)
  await signIn(second, h)
  await second.goto(link)
  await outcomeRows(second, 1)
  t.equal(await second.locator('#caller').inputValue(), 'report-job', 'a link reopens the selection')
  t.equal(await second.locator('#integration').inputValue(), 'wiki-main')
  t.equal(await second.locator('button[data-window="last1h"]').getAttribute('aria-pressed'), 'true')
  t.same(countsIn(await rowsOf(second, 'outcomes-body')), { [key('report-job', 'wiki-main')]: expected[key('report-job', 'wiki-main')] })
  t.equal(await second.locator('#credentials-body tr').count(), 1, 'the panels follow the integration chosen')

  // Every control has a name a screen reader and a keyboard user can find.
  const unnamed = await page.evaluate<string[]>(`[...document.querySelectorAll('button, select, input, a')]
    .filter((element) => element.matches('select, input') ? element.labels.length === 0 : element.textContent.trim() === '')
    .map((element) => element.outerHTML.slice(0, 80))`)
  t.same(unnamed, [], 'no unlabelled control')

  // Dark mode follows the system setting.
  await page.emulateMedia({ colorScheme: 'light' })
  const light = await background('body')
  await page.emulateMedia({ colorScheme: 'dark' })
  const dark = await background('body')
  t.equal(light, 'rgb(255, 255, 255)')
  t.equal(dark, 'rgb(22, 24, 29)', 'dark background in dark mode')
  mkdirSync(ARTIFACTS, { recursive: true })
  await page.selectOption('#caller', '')
  await outcomeRows(page, Object.keys(expected).length)
  await page.screenshot({ path: `${ARTIFACTS}/admin-ops-dark.png`, fullPage: true })
  await page.emulateMedia({ colorScheme: 'light' })
  await page.screenshot({ path: `${ARTIFACTS}/admin-ops.png`, fullPage: true })

  const html = await page.content()
  for (const secret of [...h.fake.tokensOf(CLIENT_ID), CLIENT_SECRET, CALLER_SECRET, MASTER_KEY]) {
    t.notOk(html.includes(secret), 'no secret on the page')
    t.notOk(jsonText.includes(secret), 'no secret in the download')
  }
  t.notOk(html.includes(adminJwt), 'the admin token is not in the page (only in sessionStorage)')
  t.same(problems, [], 'no script error and no CSP violation')
})

t.test('500 callers: every row is rendered', { skip: SKIP_WITHOUT_CHROMIUM }, async (t) => {
  const callers = Array.from({ length: 500 }, (_, i) => `load-job-${String(i).padStart(3, '0')}`)
  const policy = callers.map((caller) => ({ caller, integration: 'jira-main', methods: ['GET'], paths: ['/rest/api/3/**'] }))
  const h = await startHarness(t, { config: { callers: CALLERS, policy } })
  for (let i = 0; i < callers.length; i += 25) {
    await Promise.all(callers.slice(i, i + 25).map(async (caller) => {
      const res = await request(`${h.url}/proxy/jira-main/rest/api/3/myself`, { headers: { authorization: `Bearer ${h.callerToken(caller)}` } })
      await res.body.dump()
      if (res.statusCode !== 200) throw new Error(`${caller}: ${res.statusCode}`)
    }))
  }
  const browser = await launchChromium(t)
  const page = await browser.newPage({ viewport: { width: 1300, height: 1000 } })
  await page.goto(`${h.url}/admin`)
  await signIn(page, h)
  await outcomeRows(page, 500)
  t.equal(await page.locator('#usage-body tr').count(), 500, 'every caller in the totals table')
  t.equal(await page.locator('#caller option').count(), 501, 'every caller is a choice (plus "all")')
  t.equal(await page.locator('#top-calls-body tr').count(), 10, 'the top list keeps to the 10 busiest callers')
  t.equal(await page.locator('#chart-latency rect').count(), 20, 'the chart keeps to the 20 slowest')
  t.match(await page.locator('#timeline-totals span[data-outcome="ok"]').innerText(), /: 500$/)
  t.comment(`render of 500 callers (measured once, not asserted): ${await page.evaluate<string>('document.body.dataset.renderMs')} ms`)
})
