/**
 * The ops page at `GET /admin`: one self-contained HTML document (inline CSS and JS, no build step, no external
 * asset). It holds no data: it asks for the admin token (kept in sessionStorage, so it dies with the tab), fetches
 * `/admin/usage` with it, and redraws tables and inline-SVG bar charts every few seconds. On the admin listener,
 * where no token is needed, it shows the data straight away.
 * Text from the server is only ever set through textContent, never parsed as HTML.
 */
import { createHash } from 'node:crypto'

export const USAGE_REFRESH_MS = 5_000

const STYLE = `
:root { color-scheme: light dark; --bar: #2f6fde; --err: #d1453b; --muted: #777; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; }
h1 { font-size: 1.3rem; margin: 0 0 .8rem; }
h2 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
form, .bar-row { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; }
input[type=password] { width: 28rem; max-width: 100%; padding: .3rem; }
button { padding: .3rem .7rem; cursor: pointer; }
button[aria-pressed=true] { font-weight: bold; }
table { border-collapse: collapse; margin-top: .5rem; }
th, td { padding: .25rem .6rem; border-bottom: 1px solid #8884; text-align: right; }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
#status { color: var(--muted); }
#status.error { color: var(--err); }
.hidden { display: none; }
svg text { font: 12px system-ui, sans-serif; fill: currentColor; }
`

const SCRIPT = `
'use strict'
const TOKEN_KEY = 'atlassian-broker-admin-token'
const REFRESH_MS = ${USAGE_REFRESH_MS}
const WINDOWS = { last5m: 'last 5 minutes', last1h: 'last hour', sinceStart: 'since start' }
const FIELDS = ['requests', 'errors', 'rateLimited', 'bytesIn', 'bytesOut', 'p50Ms', 'p95Ms']
let windowName = 'last5m'
let timer

const $ = (id) => document.getElementById(id)
const fmt = (value) => value === null || value === undefined ? '-' : typeof value === 'number' ? value.toLocaleString('en-US') : String(value)

function setStatus (text, isError) {
  $('status').textContent = text
  $('status').className = isError ? 'error' : ''
}

function cell (tag, text, field) {
  const element = document.createElement(tag)
  element.textContent = text
  if (field) element.dataset.field = field
  return element
}

function renderTable (series) {
  const body = $('usage-body')
  body.replaceChildren()
  for (const entry of series) {
    const figures = entry[windowName]
    const row = document.createElement('tr')
    row.dataset.caller = entry.caller
    row.dataset.integration = entry.integration
    row.append(cell('td', entry.caller, 'caller'), cell('td', entry.integration, 'integration'))
    for (const field of FIELDS) row.append(cell('td', fmt(figures[field]), field))
    body.append(row)
  }
  $('empty').classList.toggle('hidden', series.length > 0)
}

function barChart (svgId, bars, unit) {
  const svg = $(svgId)
  const ns = 'http://www.w3.org/2000/svg'
  svg.replaceChildren()
  const rowHeight = 22
  const labelWidth = 230
  const width = 640
  const max = Math.max(1, ...bars.map((bar) => bar.value))
  svg.setAttribute('viewBox', '0 0 ' + width + ' ' + Math.max(rowHeight, bars.length * rowHeight))
  svg.setAttribute('height', String(Math.max(rowHeight, bars.length * rowHeight)))
  bars.forEach((bar, index) => {
    const y = index * rowHeight
    const label = document.createElementNS(ns, 'text')
    label.setAttribute('x', '0')
    label.setAttribute('y', String(y + 15))
    label.textContent = bar.label
    const rect = document.createElementNS(ns, 'rect')
    rect.setAttribute('x', String(labelWidth))
    rect.setAttribute('y', String(y + 3))
    rect.setAttribute('height', String(rowHeight - 6))
    rect.setAttribute('width', String(Math.max(1, (width - labelWidth - 90) * bar.value / max)))
    rect.setAttribute('fill', bar.error ? 'var(--err)' : 'var(--bar)')
    const value = document.createElementNS(ns, 'text')
    value.setAttribute('x', String(labelWidth + (width - labelWidth - 90) * bar.value / max + 6))
    value.setAttribute('y', String(y + 15))
    value.textContent = fmt(bar.value) + unit
    svg.append(label, rect, value)
  })
}

function renderCharts (series) {
  const byCaller = new Map()
  for (const entry of series) {
    const figures = entry[windowName]
    const total = byCaller.get(entry.caller) || { requests: 0, errors: 0 }
    total.requests += figures.requests
    total.errors += figures.errors
    byCaller.set(entry.caller, total)
  }
  const bars = []
  for (const [caller, total] of byCaller) {
    bars.push({ label: caller + ' requests', value: total.requests })
    bars.push({ label: caller + ' errors', value: total.errors, error: true })
  }
  barChart('chart-requests', bars, '')
  barChart('chart-latency', series.filter((entry) => entry[windowName].p95Ms !== null)
    .map((entry) => ({ label: entry.caller + ' / ' + entry.integration, value: entry[windowName].p95Ms })), ' ms')
}

async function refresh () {
  clearTimeout(timer)
  const token = sessionStorage.getItem(TOKEN_KEY)
  const headers = token ? { authorization: 'Bearer ' + token } : {}
  try {
    const response = await fetch('/admin/usage' + (new URLSearchParams(location.search).get('scope') === 'fleet' ? '?scope=fleet' : ''), { headers, cache: 'no-store' })
    const body = await response.json()
    if (!response.ok) {
      if (token || response.status !== 401) setStatus((body && body.message) || ('HTTP ' + response.status), true)
      else setStatus('Enter an admin token to see usage.', false)
      $('login').classList.remove('hidden')
      if (response.status === 401 || response.status === 403) return
    } else {
      $('login').classList.add('hidden')
      renderTable(body.series)
      renderCharts(body.series)
      $('window-name').textContent = WINDOWS[windowName]
      setStatus('Updated ' + new Date(body.generatedAt).toLocaleTimeString() + ' (broker up since ' + new Date(body.startedAt).toLocaleString() + ')', false)
    }
  } catch (error) {
    setStatus('Cannot reach the broker: ' + error.message, true)
  }
  timer = setTimeout(refresh, REFRESH_MS)
}

$('login').addEventListener('submit', (event) => {
  event.preventDefault()
  const token = $('token').value.trim()
  if (token) sessionStorage.setItem(TOKEN_KEY, token)
  $('token').value = ''
  refresh()
})
$('forget').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY)
  $('login').classList.remove('hidden')
  setStatus('Token forgotten.', false)
})
for (const button of document.querySelectorAll('[data-window]')) {
  button.addEventListener('click', () => {
    windowName = button.dataset.window
    for (const other of document.querySelectorAll('[data-window]')) other.setAttribute('aria-pressed', String(other === button))
    refresh()
  })
}
// Without a stored token this still asks once: on the admin listener no token is needed.
refresh()
`

const BODY = `
<h1>atlassian-broker: usage</h1>
<form id="login">
  <label for="token">Admin token</label>
  <input id="token" type="password" autocomplete="off" placeholder="a caller JWT with the admin role">
  <button type="submit">Show usage</button>
</form>
<p id="status"></p>
<div class="bar-row">
  <button type="button" data-window="last5m" aria-pressed="true">Last 5 minutes</button>
  <button type="button" data-window="last1h" aria-pressed="false">Last hour</button>
  <button type="button" data-window="sinceStart" aria-pressed="false">Since start</button>
  <button type="button" id="forget">Forget token</button>
</div>
<h2>Per caller and integration, <span id="window-name">last 5 minutes</span></h2>
<table>
  <thead><tr><th>Caller</th><th>Integration</th><th>Requests</th><th>Errors</th><th>429s</th><th>Bytes in</th><th>Bytes out</th><th>p50 ms</th><th>p95 ms</th></tr></thead>
  <tbody id="usage-body"></tbody>
</table>
<p id="empty" class="hidden">No calls in this window.</p>
<h2>Requests and errors by caller</h2>
<svg id="chart-requests" width="640" role="img" aria-label="requests and errors by caller"></svg>
<h2>p95 latency by caller and integration</h2>
<svg id="chart-latency" width="640" role="img" aria-label="p95 latency"></svg>
`

const hash = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`

/** Only the page's own inline script and style may run; it may only talk to its own origin. */
export const USAGE_PAGE_CSP = [
  "default-src 'none'", `script-src ${hash(SCRIPT)}`, `style-src ${hash(STYLE)}`, "connect-src 'self'",
  "img-src 'self' data:", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'"
].join('; ')

export const USAGE_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>atlassian-broker usage</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>${BODY}<script>${SCRIPT}</script>
</body>
</html>
`
