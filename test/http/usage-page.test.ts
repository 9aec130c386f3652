/**
 * The ops page in a real browser (Debian's chromium driven by playwright-core): it asks for the admin token, keeps it
 * in sessionStorage, and shows the numbers this test just generated. Leaves test-artifacts/admin-usage.png.
 */
import { existsSync, mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Page } from 'playwright-core'
import t from 'tap'
import { request } from 'undici'
import { SKIP_WITHOUT_CHROMIUM, launchChromium } from '../helpers/chromium.js'
import { CALLER_SECRET, CLIENT_ID, CLIENT_SECRET, startHarness, type Harness } from '../helpers/broker-harness.js'

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url))
const ADMIN_CONFIG = { callers: { jwt: { audience: 'atlassian-broker', hs256Secret: CALLER_SECRET }, admin: { role: 'broker-admin' } } }
const POLICY = [
  { caller: 'report-job', integration: 'jira-main', methods: ['GET'], paths: ['/rest/api/3/**'] },
  { caller: 'sync-job', integration: 'jira-main', methods: ['GET'], paths: ['/rest/api/3/**'] }
]

async function proxied (h: Harness, caller: string, path: string, times: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    const res = await request(`${h.url}/proxy/jira-main${path}`, { headers: { authorization: `Bearer ${h.callerToken(caller)}` } })
    await res.body.dump()
  }
}

// textContent, not innerText: the totals table is laid out only when scrolled near (content-visibility), and innerText
// of a part not laid out is empty.
const cellText = async (page: Page, caller: string, field: string): Promise<string> =>
  await page.locator(`#usage-body tr[data-caller="${caller}"][data-integration="jira-main"] td[data-field="${field}"]`).textContent() ?? ''

/** Waits (playwright's own polling, bounded) until the row shows `requests`; asserts nothing about time. */
async function rowShows (page: Page, caller: string, requests: number): Promise<void> {
  await page.locator(`tr[data-caller="${caller}"][data-integration="jira-main"] td[data-field="requests"]`, { hasText: new RegExp(`^${requests}$`) })
    .waitFor({ timeout: 30_000 })
}

t.test('the admin page shows the usage a test just generated', { skip: SKIP_WITHOUT_CHROMIUM }, async (t) => {
  const h = await startHarness(t, { config: { ...ADMIN_CONFIG, policy: POLICY } })
  await proxied(h, 'report-job', '/rest/api/3/myself', 3)
  await proxied(h, 'report-job', '/rest/api/2/not-allowed', 1)
  await proxied(h, 'sync-job', '/rest/api/3/myself', 2)

  const browser = await launchChromium(t)
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } })
  const problems: string[] = []
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`))
  page.on('console', (message) => { if (message.type() === 'error') problems.push(`console: ${message.text()}`) })

  await page.goto(`${h.url}/admin`)
  // The status is written once the page's first fetches answer, after `load`: read it then (Node 26 CI read it empty).
  await page.locator('#status', { hasText: /\S/ }).waitFor()
  t.match(await page.locator('#status').innerText(), /Enter an admin token/)
  t.equal(await page.locator('#usage-body tr').count(), 0, 'no data before a token is given')

  const adminJwt = h.callerToken('ops-alice', { roles: ['broker-admin'] })
  await page.fill('#token', 'not-a-jwt')
  await page.click('#login button[type=submit]')
  await page.locator('#status.error').waitFor()
  t.match(await page.locator('#status').innerText(), /Caller authentication failed/, 'a bad token is reported')
  problems.length = 0 // the browser logs the 401 fetch itself; that one is expected

  await page.fill('#token', adminJwt)
  await page.click('#login button[type=submit]')
  await rowShows(page, 'report-job', 4)
  t.equal(await cellText(page, 'report-job', 'errors'), '1')
  t.equal(await cellText(page, 'report-job', 'rateLimited'), '0')
  t.equal(await cellText(page, 'sync-job', 'requests'), '2')
  t.equal(await cellText(page, 'sync-job', 'errors'), '0')
  t.match(await cellText(page, 'report-job', 'p95Ms'), /^[\d.,]+$/)
  t.ok(await page.locator('#login').isHidden(), 'the token form is hidden once data shows')
  t.equal(await page.evaluate('sessionStorage.getItem("atlassian-broker-admin-token")'), adminJwt, 'the token is kept in sessionStorage')
  t.same(await page.locator('#top-calls-body tr').evaluateAll((rows) => rows.map((row) => (row as unknown as { dataset: Record<string, string> }).dataset.caller)), ['report-job', 'sync-job'], 'the top callers, busiest first')
  t.equal(await page.locator('#chart-latency rect').count(), 2)

  await proxied(h, 'sync-job', '/rest/api/3/myself', 3)
  await page.click('button[data-window="sinceStart"]')
  await rowShows(page, 'sync-job', 5)
  t.equal(await page.locator('#window-name').textContent(), 'since start')

  await page.reload()
  await rowShows(page, 'sync-job', 5)
  t.pass('after a reload the page uses the stored token without asking again')

  const html = await page.content()
  for (const secret of [...h.fake.tokensOf(CLIENT_ID), CLIENT_SECRET, CALLER_SECRET]) t.notOk(html.includes(secret), 'no secret on the page')
  t.same(problems, [], 'no script error and no CSP violation')

  mkdirSync(ARTIFACTS, { recursive: true })
  await page.locator('button[data-window="last5m"]').click()
  await rowShows(page, 'sync-job', 5)
  await page.screenshot({ path: `${ARTIFACTS}/admin-usage.png`, fullPage: true })
  t.ok(existsSync(`${ARTIFACTS}/admin-usage.png`), 'screenshot saved')
})
