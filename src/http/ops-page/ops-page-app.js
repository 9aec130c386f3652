/*
 * The ops page's state and data flow (a classic browser script, after ops-page-render.js): the admin token
 * (sessionStorage, so it dies with the tab), the selection (kept in the URL's query string, so a link reopens the same
 * view), the fetches of /admin/usage and /admin/ops every few seconds, and the downloads of what is on screen.
 */
/* global $, OUTCOMES, PAGE_CONFIG, USAGE_FIELDS, when, renderLegend, renderTimeline, renderOutcomes, renderUsage,
   renderCharts, renderCredentials, renderHeadroom, renderQueues, renderTools, toCsv, download, renderWho,
   renderFailing, renderRemaining, renderConfig, initCredentialActions */
'use strict'

const TOKEN_KEY = 'atlassian-broker-admin-token'
const REFRESH_MS = PAGE_CONFIG.refreshMs
const WINDOWS = { last5m: 'last 5 minutes', last1h: 'last hour', sinceStart: 'since start' }
const CSV_COLUMNS = {
  timeline: ['minute', ...OUTCOMES, 'total'],
  outcomes: ['caller', 'integration', ...OUTCOMES, 'total'],
  usage: ['caller', 'integration', ...USAGE_FIELDS],
  callerHours: ['caller', 'requests', 'errors', 'errorRate', 'points', 'callerLimited', 'waiting', 'seatsInUse'],
  integrationHours: ['integration', 'requests', 'errors', 'errorRate', 'p50Ms', 'p95Ms', 'p99Ms', 'points', 'exchanges', 'exchangesFailed'],
  failures: ['at', 'requestId', 'caller', 'integration', 'statusCode', 'code', 'upstreamStatus'],
  credentials: ['integration', 'product', 'credential', 'store', 'storeVersion', 'versionInUse', 'rotatedAt', 'rotatedBy', 'owner', 'expiresAt', 'daysToExpiry', 'hoursToExpiry', 'expiryLevel', 'tokenCachedUntil', 'lastExchangeOutcome', 'lastExchangeAt', 'scopeRefusalUntil', 'storeError'],
  headroom: ['integration', 'remaining', 'limit', 'resetAt', 'reason', 'nearLimit', 'retryAfterSeconds', 'statusCode', 'betaPolicy', 'betaQuota', 'betaRemaining', 'seenAt', 'heldUntil'],
  queues: ['integration', 'caller', 'depth', 'seatsInUse', 'oldestWaitMs'],
  tools: ['tool', 'caller', 'calls', 'errors']
}
const query = new URLSearchParams(location.search)
const state = {
  windowName: WINDOWS[query.get('window')] ? query.get('window') : 'last5m',
  caller: query.get('caller') || '',
  integration: query.get('integration') || '',
  fleet: query.get('scope') === 'fleet',
  usageSort: 'requests'
}
const USAGE_SORTS = {
  requests: (a, b) => b.requests - a.requests,
  errors: (a, b) => b.errors - a.errors || b.requests - a.requests,
  p95Ms: (a, b) => (b.p95Ms ?? -1) - (a.p95Ms ?? -1),
  name: () => 0
}
let onScreen = null
let timer

function setStatus (text, isError) {
  $('status').textContent = text
  $('status').className = isError ? 'error' : ''
}

function selectionQuery () {
  const params = new URLSearchParams()
  if (state.caller) params.set('caller', state.caller)
  if (state.integration) params.set('integration', state.integration)
  if (state.windowName !== 'last5m') params.set('window', state.windowName)
  if (state.fleet) params.set('scope', 'fleet')
  return params.toString()
}

/** The address bar and the "link to this view" always carry the selection. */
function syncAddress () {
  const search = selectionQuery()
  const url = location.pathname + (search ? '?' + search : '')
  history.replaceState(null, '', url)
  $('permalink').href = url
  for (const button of document.querySelectorAll('[data-window]')) button.setAttribute('aria-pressed', String(button.dataset.window === state.windowName))
  for (const button of document.querySelectorAll('[data-scope]')) button.setAttribute('aria-pressed', String((button.dataset.scope === 'fleet') === state.fleet))
  $('window-name').textContent = WINDOWS[state.windowName]
}

/** Options are rebuilt only when the names change, so an open or focused list is not disturbed by a refresh. */
function fillSelect (id, names, chosen, allLabel) {
  const select = $(id)
  const wanted = chosen && !names.includes(chosen) ? [...names, chosen] : names
  const current = [...select.options].slice(1).map((option) => option.value)
  if (current.length !== wanted.length || current.some((name, index) => name !== wanted[index])) {
    const fragment = document.createDocumentFragment()
    fragment.append(new Option(allLabel, ''))
    for (const name of wanted) fragment.append(new Option(name, name))
    select.replaceChildren(fragment)
  }
  if (select.value !== chosen) select.value = chosen
}

function buildScreen (usage, ops) {
  const inIntegration = (entry) => !state.integration || entry.integration === state.integration
  const chosen = (entry) => (!state.caller || entry.caller === state.caller) && inIntegration(entry)
  const pair = (entry) => ({ caller: entry.caller, integration: entry.integration })
  return {
    generatedAt: ops.generatedAt,
    startedAt: ops.startedAt,
    selection: {
      caller: state.caller || null,
      integration: state.integration || null,
      window: state.windowName,
      scope: state.fleet ? 'fleet' : 'pod'
    },
    fleetMode: ops.fleet,
    config: ops.config,
    defaultMaxConcurrent: ops.defaultMaxConcurrent,
    callerHours: ops.callerHours.map((entry) => ({ ...entry, callerLimited: entry.outcomes.callerLimited })),
    integrationHours: ops.integrationHours.map((entry) => {
      const exchanges = Object.values(entry.exchanges).reduce((sum, count) => sum + count, 0)
      const exchangesFailed = exchanges - (entry.exchanges.ok || 0)
      return { ...entry, exchanges, exchangesFailed, exchangesByOutcome: entry.exchanges }
    }),
    failuresByCode: ops.failures.byCode,
    failures: ops.failures.recent,
    holds: ops.holds,
    exchangeMinutes: ops.exchangeMinutes,
    callers: ops.callers,
    integrations: [...new Set([...ops.integrations, ...ops.credentials.map((entry) => entry.integration)])].sort(),
    timeline: ops.minutes,
    outcomes: ops.series.map((entry) => ({ ...pair(entry), ...entry.lastHour })),
    // Stable sort over the server's name order: ties stay by caller, then integration.
    usage: usage.series.filter(chosen).map((entry) => ({ ...pair(entry), ...entry[state.windowName] }))
      .sort(USAGE_SORTS[state.usageSort]),
    credentials: ops.credentials.filter(inIntegration).map((entry) => ({
      ...entry,
      lastExchangeOutcome: entry.lastExchange ? entry.lastExchange.outcome : null,
      lastExchangeAt: entry.lastExchange ? entry.lastExchange.at : null,
      lastExchange: undefined
    })),
    headroom: ops.headroom.filter(inIntegration).map((entry) => {
      const latest = entry.latest || {}
      const beta = latest.beta || {}
      return {
        integration: entry.integration,
        remaining: latest.remaining ?? null,
        limit: latest.limit ?? null,
        resetAt: latest.resetAt ?? null,
        reason: latest.reason ?? null,
        nearLimit: latest.nearLimit ?? null,
        retryAfterSeconds: latest.retryAfterSeconds ?? null,
        statusCode: latest.statusCode ?? null,
        betaPolicy: beta.policy ?? null,
        betaQuota: beta.quota ?? null,
        betaRemaining: beta.remaining ?? null,
        seenAt: latest.seenAt ?? null,
        heldUntil: entry.heldUntil,
        // The fleet scope shows the freshest reading of any pod (/admin/usage?scope=fleet), not this pod's own.
        pools: state.fleet && usage.pools
          ? usage.pools.filter((pool) => pool.integration === entry.integration)
          : entry.pools || []
      }
    }),
    queues: ops.queues || [],
    tools: ops.tools || [],
    thresholds: ops.thresholds
  }
}

function render () {
  if (onScreen === null) return
  const started = performance.now()
  renderLegend()
  fillSelect('caller', onScreen.callers, state.caller, 'All callers')
  fillSelect('integration', onScreen.integrations, state.integration, 'All integrations')
  $('warn-days').textContent = String(onScreen.thresholds.warnDays)
  $('critical-days').textContent = String(onScreen.thresholds.criticalDays)
  $('scope-switch').classList.toggle('hidden', !onScreen.fleetMode)
  renderWho(onScreen.callerHours, onScreen.defaultMaxConcurrent)
  renderTimeline(onScreen.timeline, onScreen.holds, onScreen.exchangeMinutes)
  renderFailing(onScreen.integrationHours, { byCode: onScreen.failuresByCode, recent: onScreen.failures })
  const pools = Object.fromEntries(onScreen.headroom.map((entry) => [entry.integration, entry.pools]))
  renderRemaining(onScreen.integrationHours, onScreen.timeline, onScreen.holds, onScreen.exchangeMinutes, pools)
  renderConfig(onScreen.config)
  renderOutcomes(onScreen.outcomes)
  renderUsage(onScreen.usage)
  renderCharts(onScreen.usage)
  renderCredentials(onScreen.credentials)
  renderHeadroom(onScreen.headroom)
  renderQueues(onScreen.queues)
  renderTools(onScreen.tools)
  // Reading a layout property makes the browser lay the page out now, so the figure includes style and layout.
  if (document.body.offsetHeight >= 0) document.body.dataset.renderMs = (performance.now() - started).toFixed(1)
}

async function getJson (path, headers) {
  const response = await fetch(path, { headers, cache: 'no-store' })
  return { response, body: await response.json() }
}

function authHeaders () {
  const token = sessionStorage.getItem(TOKEN_KEY)
  return token ? { authorization: 'Bearer ' + token } : {}
}

async function refresh () {
  clearTimeout(timer)
  syncAddress()
  const token = sessionStorage.getItem(TOKEN_KEY)
  const headers = authHeaders()
  const opsQuery = new URLSearchParams()
  if (state.caller) opsQuery.set('caller', state.caller)
  if (state.integration) opsQuery.set('integration', state.integration)
  try {
    const [usage, ops] = await Promise.all([getJson('/admin/usage' + (state.fleet ? '?scope=fleet' : ''), headers), getJson('/admin/ops?' + opsQuery, headers)])
    const failed = !usage.response.ok ? usage : !ops.response.ok ? ops : null
    if (failed !== null) {
      if (token || failed.response.status !== 401) setStatus((failed.body && failed.body.message) || ('HTTP ' + failed.response.status), true)
      else setStatus('Enter an admin token to see usage.', false)
      $('login').classList.remove('hidden')
      if (failed.response.status === 401 || failed.response.status === 403) return
    } else {
      $('login').classList.add('hidden')
      onScreen = buildScreen(usage.body, ops.body)
      render()
      setStatus('Updated ' + when(ops.body.generatedAt) + ' (broker up since ' + when(usage.body.startedAt) + ')' +
        (state.fleet ? '; totals are the fleet\'s, and Atlassian\'s pools the freshest any pod saw; everything else this sidecar\'s' : ''), false)
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
  button.addEventListener('click', () => { state.windowName = button.dataset.window; refresh() })
}
for (const button of document.querySelectorAll('[data-scope]')) {
  button.addEventListener('click', () => { state.fleet = button.dataset.scope === 'fleet'; refresh() })
}
$('usage-sort').addEventListener('change', () => { state.usageSort = $('usage-sort').value; refresh() })
$('caller').addEventListener('change', () => { state.caller = $('caller').value; refresh() })
$('integration').addEventListener('change', () => { state.integration = $('integration').value; refresh() })
$('download-json').addEventListener('click', () => {
  if (onScreen !== null) download('atlassian-broker-ops.json', 'application/json', JSON.stringify(onScreen, null, 2) + '\n')
})
for (const button of document.querySelectorAll('[data-csv]')) {
  button.addEventListener('click', () => {
    const section = button.dataset.csv
    if (onScreen !== null) download('atlassian-broker-' + section + '.csv', 'text/csv', toCsv(CSV_COLUMNS[section], onScreen[section]))
  })
}
initCredentialActions(authHeaders, () => { refresh() })
syncAddress()
// Without a stored token this still asks once: on the admin listener no token is needed.
refresh()
