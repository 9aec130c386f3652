/*
 * The ops page's credentials (a classic browser script, after ops-page-hour.js): the table (expiry date in UTC, hours
 * left under two days, the server's verdict as sent), each integration's version history, and rotate and roll back
 * behind a confirmation, as Vault's UI asks before a destructive change. The actions POST JSON to the broker's own
 * admin routes (/admin/integrations/:name/rotate and /rollback): the one audited write path the CLI uses too, under
 * the admin browser guard (JSON body, same origin, allowed hosts). A credential typed in is sent once and never shown.
 */
/* global $, fmt, when, cell, fillBody */
/* exported renderCredentials, timeLeft, initCredentialActions */
'use strict'

const EXPIRY_MARKS = { warning: 'soon', critical: 'critical', expired: 'expired' }
const HOURS_SHOWN_UNDER = 48

/** Whole days as the broker counts them, or hours under two days ("47.9 hours", not "1 day"); the verdict as sent. */
function timeLeft (entry) {
  if (entry.hoursToExpiry === null || entry.daysToExpiry === null) return '-'
  const left = entry.hoursToExpiry < HOURS_SHOWN_UNDER ? fmt(entry.hoursToExpiry) + ' hours' : fmt(entry.daysToExpiry) + ' days'
  return left + (EXPIRY_MARKS[entry.expiryLevel] ? ' (' + EXPIRY_MARKS[entry.expiryLevel] + ')' : '')
}

function renderCredentials (rows) {
  fillBody('credentials-body', rows, (entry) => {
    const row = document.createElement('tr')
    row.dataset.integration = entry.integration
    // The server's verdict (the broker's one expiry rule), shown as sent: the page never recomputes thresholds.
    if (EXPIRY_MARKS[entry.expiryLevel]) row.className = 'expiry-' + entry.expiryLevel
    const version = entry.storeVersion === null ? (entry.storeError ? 'store error: ' + entry.storeError : 'none stored') : fmt(entry.storeVersion) + ' (' + fmt(entry.versionInUse) + ')'
    const versions = document.createElement('td')
    versions.className = 'text'
    const button = document.createElement('button')
    button.type = 'button'
    button.dataset.history = entry.integration
    button.textContent = 'History'
    button.setAttribute('aria-label', 'Versions of ' + entry.integration)
    versions.append(button)
    row.append(cell(entry.integration, 'integration', true), cell(entry.store, 'store', true), cell(version, 'version'),
      cell(when(entry.rotatedAt), 'rotatedAt', true), cell(fmt(entry.rotatedBy), 'rotatedBy', true), cell(fmt(entry.owner), 'owner', true),
      cell(when(entry.expiresAt), 'expiresAt', true), cell(timeLeft(entry), 'timeLeft'), cell(when(entry.tokenCachedUntil), 'tokenCachedUntil', true),
      cell(entry.lastExchangeOutcome ? entry.lastExchangeOutcome + ' at ' + when(entry.lastExchangeAt) : '-', 'lastExchange', true),
      // Atlassian refuses this credential's fresh tokens for a missing scope: refresh on such 401s is paused.
      cell(entry.scopeRefusalUntil ? 'paused until ' + when(entry.scopeRefusalUntil) + ' (scope does not match)' : 'active', 'scopeRefusal', true),
      versions)
    return row
  })
}

/**
 * Asks before a change, and why: resolves with the reason on Confirm, null otherwise. The page requires one (the API
 * and CLI do not): someone at the page is at a keyboard already, and a history of who without why is what the issue
 * asked to fix; the broker checks the text (length, control characters) as it does for the CLI.
 */
function confirmAction (text) {
  const dialog = $('confirm')
  const reason = $('confirm-reason')
  const yes = $('confirm-yes')
  $('confirm-text').textContent = text
  reason.value = ''
  yes.disabled = true
  return new Promise((resolve) => {
    const finish = (answer) => {
      yes.onclick = null
      $('confirm-no').onclick = null
      reason.oninput = null
      reason.onkeydown = null
      dialog.onclose = null
      if (dialog.open) dialog.close()
      resolve(answer)
    }
    const given = () => reason.value.trim()
    reason.oninput = () => { yes.disabled = given() === '' }
    reason.onkeydown = (event) => { if (event.key === 'Enter' && given() !== '') finish(given()) }
    yes.onclick = () => { if (given() !== '') finish(given()) }
    $('confirm-no').onclick = () => finish(null)
    dialog.onclose = () => finish(null)
    dialog.showModal()
    reason.focus()
  })
}

/** `authHeaders()`: the admin token's header, if any; `afterChange()`: redraws the page once a change is made. */
function initCredentialActions (authHeaders, afterChange) {
  let shown = null

  const say = (text, isError) => {
    $('action-result').textContent = text
    $('action-result').className = isError ? 'error' : ''
  }

  async function showHistory (integration) {
    const response = await fetch('/admin/integrations/' + encodeURIComponent(integration) + '/history', { headers: authHeaders(), cache: 'no-store' })
    const history = await response.json()
    if (!response.ok) { say(history.message || 'HTTP ' + response.status, true); return }
    shown = history
    $('history').classList.remove('hidden')
    $('history-name').textContent = integration
    fillBody('history-body', [...history.versions].reverse(), (entry) => {
      const row = document.createElement('tr')
      row.dataset.version = String(entry.version)
      const state = entry.current ? 'current' + (history.versionInUse === entry.version ? ', in use here' : '') : entry.readable ? 'kept' : 'deleted or destroyed'
      const action = document.createElement('td')
      action.className = 'text'
      if (!entry.current && entry.readable) {
        const button = document.createElement('button')
        button.type = 'button'
        button.dataset.rollback = String(entry.version)
        button.textContent = 'Roll back to ' + entry.version + '…'
        action.append(button)
      }
      row.append(cell(fmt(entry.version), 'version'), cell(when(entry.createdAt), 'createdAt', true), cell(fmt(entry.writtenBy), 'writtenBy', true),
        cell(fmt(entry.reason), 'reason', true), cell(state, 'state', true), action)
      return row
    })
  }

  async function change (action, body, question) {
    const reason = shown === null ? null : await confirmAction(question)
    if (reason === null) { say('Nothing changed.', false); return }
    const response = await fetch('/admin/integrations/' + encodeURIComponent(shown.integration) + '/' + action, {
      method: 'POST',
      headers: { ...authHeaders(), 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, reason, expectedVersion: shown.currentVersion ?? undefined }),
      cache: 'no-store'
    })
    const answer = await response.json()
    if (!response.ok) { say(answer.code + ': ' + answer.message, true); return }
    say(answer.notes.join(' · '), false)
    await showHistory(shown.integration)
    afterChange()
  }

  $('credentials-body').addEventListener('click', (event) => {
    const integration = event.target.dataset && event.target.dataset.history
    if (integration) showHistory(integration).catch((error) => say(error.message, true))
  })
  $('history-body').addEventListener('click', (event) => {
    const version = event.target.dataset && event.target.dataset.rollback
    if (!version || shown === null) return
    change('rollback', { toVersion: Number(version) }, 'Roll ' + shown.integration + ' back to the credential of version ' + version +
      '? It is written again as a new version, verified with Atlassian first; new tokens use it at once.').catch((error) => say(error.message, true))
  })
  $('rotate-form').addEventListener('submit', (event) => {
    event.preventDefault()
    if (shown === null) return
    let credential
    try { credential = JSON.parse($('rotate-credential').value) } catch { say('The credential is not JSON.', true); return }
    const expiresAt = $('rotate-expires').value.trim()
    change('rotate', { credential, ...(expiresAt ? { expiresAt } : {}) }, 'Rotate ' + shown.integration + ' to the credential typed in? It is verified with Atlassian, then written as a new version; new tokens use it at once.')
      .then(() => { $('rotate-credential').value = '' })
      .catch((error) => say(error.message, true))
  })
}
