/*
 * The ops page's hour (a classic browser script, after ops-page-render.js): who (the top callers by calls and by
 * errors, each with its limits, queue and refusals), what fails (per integration: error rate, p50/p95/p99, token
 * exchanges; failures by status and code; the latest failures by request id), how close to the limits (remaining
 * over the hour per integration, holds as bands, token exchanges as ticks) and the loaded config. Figures are shown as
 * /admin/ops sent them; only an error rate is written as a percentage.
 */
/* global $, fmt, when, cell, fillBody, svgElement */
/* exported TOP_CALLERS, renderWho, renderFailing, renderRemaining, renderConfig, percent, limitsText */
'use strict'

const TOP_CALLERS = 10
const percent = (rate) => fmt(Math.round(rate * 100_000) / 1000) + ' %'

/** A caller's limits as one line: each rule's rate and calls in flight, or the default when no rule sets any. */
function limitsText (entry, defaultConcurrent) {
  if (entry.limits.length === 0) return 'default: ' + fmt(defaultConcurrent) + ' at once'
  return entry.limits.map((limit) => limit.integration + ': ' +
    [limit.perSecond === null ? null : fmt(limit.perSecond) + '/s' + (limit.burst === null ? '' : ' burst ' + fmt(limit.burst)) + ' (' + limit.rateLimitScope + ')',
      limit.pointsPerHour === null ? null : fmt(limit.pointsPerHour) + ' points/h',
      (limit.maxConcurrent === null ? fmt(defaultConcurrent) : fmt(limit.maxConcurrent)) + ' at once'].filter(Boolean).join(', ')).join('; ')
}

function callerRow (entry, first, defaultConcurrent) {
  const row = document.createElement('tr')
  row.dataset.caller = entry.caller
  const counts = first === 'errors' ? ['errors', 'requests'] : first === 'points' ? ['points', 'requests', 'errors'] : ['requests', 'errors']
  row.append(cell(entry.caller, 'caller', true), ...counts.map((field) => cell(fmt(entry[field]), field)),
    cell(percent(entry.errorRate), 'errorRate'), ...(first === 'points' ? [] : [cell(fmt(entry.points), 'points')]),
    cell(fmt(entry.outcomes.callerLimited), 'callerLimited'),
    cell(fmt(entry.waiting), 'waiting'), cell(fmt(entry.seatsInUse), 'seatsInUse'),
    cell(limitsText(entry, defaultConcurrent), 'limits', true))
  return row
}

/** The busiest callers first, and the most failing: the whole list is in the tables further down. */
function renderWho (callers, defaultConcurrent) {
  $('default-concurrent').textContent = fmt(defaultConcurrent)
  const byCalls = callers.slice(0, TOP_CALLERS)
  const byErrors = callers.filter((entry) => entry.errors > 0)
    .sort((a, b) => b.errors - a.errors || b.requests - a.requests).slice(0, TOP_CALLERS)
  fillBody('top-calls-body', byCalls, (entry) => callerRow(entry, 'requests', defaultConcurrent))
  fillBody('top-errors-body', byErrors, (entry) => callerRow(entry, 'errors', defaultConcurrent))
  const byPoints = callers.filter((entry) => entry.points > 0)
    .sort((a, b) => b.points - a.points || b.requests - a.requests).slice(0, TOP_CALLERS)
  fillBody('top-points-body', byPoints, (entry) => callerRow(entry, 'points', defaultConcurrent))
}

/** `integrations`: the hour per integration, its token exchanges summed (`exchanges`, `exchangesFailed`). */
function renderFailing (integrations, failures) {
  fillBody('integrations-body', integrations, (entry) => {
    const row = document.createElement('tr')
    row.dataset.integration = entry.integration
    const budget = entry.budget === null
      ? 'none'
      : [entry.budget.perSecond === null ? null : fmt(entry.budget.perSecond) + '/s' + (entry.budget.burst === null ? '' : ' burst ' + fmt(entry.budget.burst)),
          entry.budget.pointsPerHour === null ? null : fmt(entry.budget.pointsPerHour) + ' points/h'].filter((part) => part !== null).join(', ')
    row.append(cell(entry.integration, 'integration', true), cell(fmt(entry.requests), 'requests'), cell(fmt(entry.errors), 'errors'),
      cell(percent(entry.errorRate), 'errorRate'), cell(fmt(entry.p50Ms), 'p50Ms'), cell(fmt(entry.p95Ms), 'p95Ms'), cell(fmt(entry.p99Ms), 'p99Ms'),
      cell(fmt(entry.points), 'points'), cell(fmt(entry.exchanges), 'exchanges'), cell(fmt(entry.exchangesFailed), 'exchangesFailed'), cell(budget, 'budget', true))
    return row
  })
  fillBody('codes-body', failures.byCode, (entry) => {
    const row = document.createElement('tr')
    row.dataset.integration = entry.integration
    row.append(cell(entry.integration, 'integration', true), cell(fmt(entry.statusCode), 'statusCode'), cell(fmt(entry.code), 'code', true), cell(fmt(entry.count), 'count'))
    return row
  })
  fillBody('recent-body', failures.recent, (entry) => {
    const row = document.createElement('tr')
    row.dataset.requestId = entry.requestId
    row.append(cell(when(entry.at), 'at', true), cell(entry.requestId, 'requestId', true), cell(entry.caller, 'caller', true),
      cell(entry.integration, 'integration', true), cell(fmt(entry.statusCode), 'statusCode'), cell(fmt(entry.code), 'code', true),
      cell(fmt(entry.upstreamStatus), 'upstreamStatus'))
    return row
  })
}

/** One small chart per integration: remaining (and the beta points remaining) per minute against the limit seen. */
function remainingChart (entry, minutes, holds, exchanges) {
  const width = 720
  const height = 120
  const left = 40
  const bottom = 18
  const start = Date.parse(minutes[0].minute)
  const step = (width - left) / minutes.length
  const xOf = (iso) => left + Math.min(Math.max((Date.parse(iso) - start) / 60000, 0), minutes.length) * step
  const figures = (sample) => [sample.limit, sample.remaining, sample.betaQuota, sample.betaRemaining]
    .map((value) => value ?? 0)
  const top = Math.max(1, ...entry.headroom.flatMap(figures))
  const yOf = (value) => height - bottom - (height - bottom - 6) * value / top
  const svg = svgElement('svg', { viewBox: '0 0 ' + width + ' ' + height, role: 'img', 'aria-label': 'remaining over the hour, ' + entry.integration })
  svg.dataset.integration = entry.integration
  svg.append(svgElement('line', { x1: left, y1: height - bottom, x2: width, y2: height - bottom }),
    svgElement('text', { x: 0, y: 12 }, fmt(top)), svgElement('text', { x: 0, y: height - bottom }, '0'))
  for (const hold of holds.filter((span) => span.integration === entry.integration)) {
    svg.append(svgElement('rect', { x: xOf(hold.from), y: 0, width: Math.max(2, xOf(hold.until) - xOf(hold.from)), height: height - bottom, class: 'hold-band' }))
  }
  for (const exchange of exchanges.filter((mark) => mark.integration === entry.integration)) {
    svg.append(svgElement('rect', { x: xOf(exchange.minute) + step / 2 - 1, y: height - bottom + 1, width: 3, height: 5, class: exchange.outcome === 'ok' ? 'exchange-ok' : 'exchange-failed' }))
  }
  for (const [field, className] of [['remaining', 'line-remaining'], ['betaRemaining', 'line-beta']]) {
    const points = entry.headroom.filter((sample) => sample[field] !== null)
    for (const sample of points) {
      const dot = svgElement('circle', { cx: xOf(sample.minute) + step / 2, cy: yOf(sample[field]), r: 3, class: className })
      dot.dataset.field = field
      dot.dataset.value = String(sample[field])
      dot.append(svgElement('title', {}, when(sample.minute) + ': ' + fmt(sample[field]) + ' remaining' + (sample.limit === null ? '' : ' of ' + fmt(sample.limit))))
      svg.append(dot)
    }
    if (points.length > 1) svg.prepend(svgElement('polyline', { points: points.map((sample) => (xOf(sample.minute) + step / 2) + ',' + yOf(sample[field])).join(' '), class: className }))
  }
  return svg
}

/** A pool as Atlassian last showed it: what is left of its quota, and when its window resets. */
const poolText = (pool) => pool.policy + ': ' + (pool.remaining === null ? '?' : fmt(pool.remaining)) + ' of ' + fmt(pool.quota) + ' left' +
  (pool.resetAt ? ', resets ' + when(pool.resetAt) : '') + ' (seen ' + when(pool.seenAt) + (pool.pod ? ' by ' + pool.pod : '') + ')'

/** `pools`: each integration's points pools (the headroom rows' `pools`), by integration name. */
function renderRemaining (integrations, minutes, holds, exchanges, pools) {
  const fragment = document.createDocumentFragment()
  for (const entry of integrations) {
    const figure = document.createElement('figure')
    figure.dataset.integration = entry.integration
    const caption = document.createElement('figcaption')
    const last = entry.headroom[entry.headroom.length - 1]
    const used = document.createElement('span')
    used.dataset.field = 'points'
    used.textContent = fmt(entry.points)
    const own = pools[entry.integration] || []
    caption.append(entry.integration + ': ', used, ' points used in the hour' + (own.length === 0 ? '' : ' against ' + own.map(poolText).join('; ')) + '. ' +
      (last === undefined ? 'No rate-limit headers this hour.' : 'Last ' + fmt(last.remaining ?? last.betaRemaining) + ' remaining at ' + when(last.minute) + '.'))
    figure.append(caption, remainingChart(entry, minutes, holds, exchanges))
    fragment.append(figure)
  }
  $('remaining-charts').replaceChildren(fragment)
}

function renderConfig (config) {
  $('config-hash').textContent = config.hash
  $('config-loaded').textContent = when(config.loadedAt)
  $('config-reloads').textContent = fmt(config.reloads)
  const refused = config.lastRefused
  $('config-refused').textContent = refused === null ? 'none' : when(refused.at) + ' (' + refused.problems.length + ' problem' + (refused.problems.length === 1 ? '' : 's') + '; the previous config kept serving)'
  const list = document.createDocumentFragment()
  for (const problem of refused === null ? [] : refused.problems) {
    const item = document.createElement('li')
    item.textContent = problem
    list.append(item)
  }
  $('config-problems').replaceChildren(list)
}
