/*
 * The ops page's drawing code (a classic browser script, inlined into the page by src/http/ops-page/ops-page.ts and
 * allowed by its CSP hash). Everything shown comes from the `onScreen` object built in ops-page-app.js, and the
 * downloads are made from the same object, so a file holds exactly what is on screen. Text from the server is only ever
 * set through textContent, never parsed as HTML. The names below are used by ops-page-app.js, the page's next script.
 */
/* exported OUTCOMES, fmt, when, cell, fillBody, svgElement, renderLegend, renderTimeline, renderOutcomes, USAGE_FIELDS,
   renderUsage, renderCharts, renderHeadroom, renderQueues, renderTools, toCsv, download, PAGE_CONFIG */
'use strict'

// What the server knows and the page must not repeat: the outcomes, their labels, the refresh interval
// (src/http/ops-page/ops-page.ts writes them into the page as JSON data, which runs nothing).
const PAGE_CONFIG = JSON.parse(document.getElementById('page-config').textContent)
const OUTCOMES = PAGE_CONFIG.outcomes
const OUTCOME_LABELS = PAGE_CONFIG.outcomeLabels
const SVG = 'http://www.w3.org/2000/svg'
const CHART_CALLERS = 20
const $ = (id) => document.getElementById(id)
const NUMBER = new Intl.NumberFormat('en-US', { maximumFractionDigits: 3 })
// One shared formatter (toLocaleString builds a new one per call: most of a 500-caller render).
const fmt = (value) => value === null || value === undefined ? '-' : typeof value === 'number' ? (Number.isInteger(value) && value < 1000 && value > -1000 ? String(value) : NUMBER.format(value)) : String(value)
// Every time on the page is UTC and says so, as the downloads are: the server's ISO text, cut to the second.
const when = (iso) => iso ? String(iso).slice(0, 19).replace('T', ' ') + ' UTC' : '-'
const clock = (iso) => String(iso).slice(11, 16)

function cell (text, field, isText) {
  const element = document.createElement('td')
  element.textContent = text
  if (field) element.dataset.field = field
  if (isText) element.className = 'text'
  return element
}

function svgElement (name, attributes, text) {
  const element = document.createElementNS(SVG, name)
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value))
  if (text !== undefined) element.textContent = text
  return element
}

/** One pass, one DOM insertion: fast enough for 500 callers. */
function fillBody (bodyId, rows, build) {
  const fragment = document.createDocumentFragment()
  for (const entry of rows) fragment.append(build(entry))
  $(bodyId).replaceChildren(fragment)
}

function renderLegend () {
  const legend = $('legend')
  if (legend.childElementCount > 0) return
  for (const outcome of OUTCOMES) {
    const item = document.createElement('span')
    const swatch = document.createElement('span')
    swatch.className = 'swatch o-' + outcome
    item.append(swatch, OUTCOME_LABELS[outcome])
    legend.append(item)
  }
  const head = $('outcomes-head')
  head.replaceChildren()
  for (const [label, isText] of [['Caller', true], ['Integration', true], ...OUTCOMES.map((o) => [OUTCOME_LABELS[o], false]), ['Total', false]]) {
    const th = document.createElement('th')
    th.scope = 'col'
    th.textContent = label
    if (isText) th.className = 'text'
    head.append(th)
  }
}

/** Per-minute bars by outcome; quota holds as shaded bands behind them, token exchanges as ticks under the axis. */
function renderTimeline (minutes, holds, exchanges) {
  const svg = $('chart-timeline')
  const width = 720
  const height = 180
  const left = 40
  const bottom = 20
  const max = Math.max(1, ...minutes.map((minute) => minute.total))
  const step = (width - left) / minutes.length
  const scale = (height - bottom - 8) / max
  const parts = [svgElement('line', { x1: left, y1: height - bottom, x2: width, y2: height - bottom }),
    svgElement('text', { x: 0, y: 14 }, fmt(max)), svgElement('text', { x: 0, y: height - bottom }, '0')]
  const start = Date.parse(minutes[0].minute)
  const xOf = (iso) => left + Math.min(Math.max((Date.parse(iso) - start) / 60000, 0), minutes.length) * step
  for (const hold of holds) {
    const band = svgElement('rect', { x: xOf(hold.from), y: 0, width: Math.max(2, xOf(hold.until) - xOf(hold.from)), height: height - bottom, class: 'hold-band' })
    band.dataset.integration = hold.integration
    band.append(svgElement('title', {}, 'quota hold of ' + hold.integration + ': ' + when(hold.from) + ' to ' + when(hold.until)))
    parts.push(band)
  }
  for (const exchange of exchanges) {
    const failed = exchange.outcome !== 'ok'
    const tick = svgElement('rect', { x: xOf(exchange.minute) + step / 2 - 1, y: height - bottom + 1, width: 3, height: 5, class: failed ? 'exchange-failed' : 'exchange-ok' })
    tick.append(svgElement('title', {}, clock(exchange.minute) + ' UTC ' + exchange.integration + ': ' + exchange.count + ' token exchange(s), ' + exchange.outcome))
    parts.push(tick)
  }
  minutes.forEach((minute, index) => {
    let y = height - bottom
    const x = left + index * step
    for (const outcome of OUTCOMES) {
      const count = minute[outcome]
      if (!count) continue
      const h = count * scale
      y -= h
      const rect = svgElement('rect', { x: x + 1, y, width: Math.max(1, step - 2), height: h, fill: 'var(--o-' + outcome + ')' })
      rect.dataset.outcome = outcome
      rect.append(svgElement('title', {}, clock(minute.minute) + ' UTC ' + OUTCOME_LABELS[outcome] + ': ' + count))
      parts.push(rect)
    }
    if (index % 10 === 0) parts.push(svgElement('text', { x, y: height - 4 }, clock(minute.minute)))
    if (index === minutes.length - 1) parts.push(svgElement('text', { x: width, y: height - 4, 'text-anchor': 'end' }, 'now (UTC)'))
  })
  svg.replaceChildren(...parts)
  const totals = $('timeline-totals')
  totals.replaceChildren()
  OUTCOMES.forEach((outcome, index) => {
    const span = document.createElement('span')
    span.dataset.outcome = outcome
    span.textContent = OUTCOME_LABELS[outcome] + ': ' + fmt(minutes.reduce((sum, minute) => sum + minute[outcome], 0))
    totals.append(index === 0 ? '' : ' · ', span)
  })
}

/** A caller × integration row: the two names as text, then one formatted number per field. */
function pairRow (entry, fields) {
  const row = document.createElement('tr')
  row.dataset.caller = entry.caller
  row.dataset.integration = entry.integration
  row.append(cell(entry.caller, 'caller', true), cell(entry.integration, 'integration', true))
  for (const field of fields) row.append(cell(fmt(entry[field]), field))
  return row
}

function renderOutcomes (series) {
  fillBody('outcomes-body', series, (entry) => pairRow(entry, [...OUTCOMES, 'total']))
  $('outcomes-empty').classList.toggle('hidden', series.length > 0)
}

const USAGE_FIELDS = ['requests', 'errors', 'rateLimited', 'bytesIn', 'bytesOut', 'p50Ms', 'p95Ms']

function renderUsage (rows) {
  fillBody('usage-body', rows, (entry) => pairRow(entry, USAGE_FIELDS))
  $('empty').classList.toggle('hidden', rows.length > 0)
}

function barChart (svgId, bars, unit) {
  const svg = $(svgId)
  const rowHeight = 22
  const labelWidth = 230
  const width = 640
  const max = Math.max(1, ...bars.map((bar) => bar.value))
  const height = Math.max(rowHeight, bars.length * rowHeight)
  svg.setAttribute('viewBox', '0 0 ' + width + ' ' + height)
  svg.setAttribute('height', String(height))
  const parts = []
  bars.forEach((bar, index) => {
    const y = index * rowHeight
    const length = (width - labelWidth - 90) * bar.value / max
    parts.push(svgElement('text', { x: 0, y: y + 15 }, bar.label.length > 34 ? bar.label.slice(0, 33) + '…' : bar.label),
      svgElement('rect', { x: labelWidth, y: y + 3, height: rowHeight - 6, width: Math.max(1, length), fill: bar.error ? 'var(--err)' : 'var(--bar)' }),
      svgElement('text', { x: labelWidth + length + 6, y: y + 15 }, fmt(bar.value) + unit))
  })
  svg.replaceChildren(...parts)
}

/** The slowest pairs only: a chart of 500 bars helps no one; the tables hold every row. */
function renderCharts (rows) {
  const latency = rows.filter((entry) => entry.p95Ms !== null).sort((a, b) => b.p95Ms - a.p95Ms).slice(0, CHART_CALLERS)
  $('chart-note').textContent = latency.length === CHART_CALLERS ? '(the ' + CHART_CALLERS + ' slowest)' : ''
  barChart('chart-latency', latency.map((entry) => ({ label: entry.caller + ' / ' + entry.integration, value: entry.p95Ms })), ' ms')
}

function renderHeadroom (rows) {
  fillBody('headroom-body', rows, (entry) => {
    const row = document.createElement('tr')
    row.dataset.integration = entry.integration
    if (entry.heldUntil) row.className = 'held'
    const beta = entry.betaQuota === null ? '-' : (entry.betaRemaining === null ? '' : fmt(entry.betaRemaining) + ' of ') + fmt(entry.betaQuota) + ' (' + fmt(entry.betaPolicy) + ')'
    row.append(cell(entry.integration, 'integration', true), cell(fmt(entry.remaining), 'remaining'), cell(fmt(entry.limit), 'limit'),
      cell(when(entry.resetAt), 'resetAt', true), cell(fmt(entry.reason), 'reason', true), cell(fmt(entry.nearLimit), 'nearLimit', true),
      cell(beta, 'beta', true), cell(when(entry.seenAt), 'seenAt', true), cell(entry.heldUntil ? 'held until ' + when(entry.heldUntil) : 'not held', 'heldUntil', true))
    return row
  })
}

function renderQueues (rows) {
  fillBody('queues-body', rows, (entry) => {
    const row = document.createElement('tr')
    row.dataset.integration = entry.integration
    row.dataset.caller = entry.caller
    row.append(cell(entry.integration, 'integration', true), cell(entry.caller, 'caller', true), cell(fmt(entry.depth), 'depth'),
      cell(fmt(entry.seatsInUse), 'seatsInUse'), cell(fmt(entry.oldestWaitMs / 1000), 'oldestWait'))
    return row
  })
}

function renderTools (rows) {
  fillBody('tools-body', rows, (entry) => {
    const row = document.createElement('tr')
    row.dataset.caller = entry.caller
    row.dataset.tool = entry.tool
    row.append(cell(entry.tool, 'tool', true), cell(entry.caller, 'caller', true), cell(fmt(entry.calls), 'calls'), cell(fmt(entry.errors), 'errors'))
    return row
  })
}

/* A text cell a spreadsheet could run as a formula (OWASP "CSV Injection"): one starting with = + - @, a tab, CR or
 * LF, also after leading whitespace (spreadsheets trim it), and the fullwidth forms (U+FF1D, U+FF0B, U+FF0D, U+FF20)
 * that some read as the ASCII ones. */
const CSV_FORMULA_START = /^(?:[\t\r\n]|\s*[=+\-@\uFF1D\uFF0B\uFF0D\uFF20])/

/** RFC 4180 quoting; a text cell that could start a formula gets a leading quote, so it stays text. */
function csvField (value) {
  if (value === null || value === undefined) return ''
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  let text = String(value)
  if (CSV_FORMULA_START.test(text)) text = "'" + text
  return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text
}

function toCsv (columns, rows) {
  return [columns.map(csvField).join(','), ...rows.map((entry) => columns.map((column) => csvField(entry[column])).join(','))].join('\r\n') + '\r\n'
}

/** A data: link (no object URL to revoke, nothing leaves the page); the file is built from what is on screen. */
function download (name, type, text) {
  const link = document.createElement('a')
  link.href = 'data:' + type + ';charset=utf-8,' + encodeURIComponent(text)
  link.download = name
  document.body.append(link)
  link.click()
  link.remove()
}
