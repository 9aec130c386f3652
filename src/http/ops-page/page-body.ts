/** The ops page's HTML: every control is a native, labelled element, so the page works from the keyboard alone. */
export const PAGE_BODY = `
<h1>atlassian-broker: ops</h1>
<form id="login">
  <label for="token">Admin token</label>
  <input id="token" type="password" autocomplete="off" placeholder="a caller JWT with the admin role">
  <button type="submit">Show usage</button>
</form>
<p id="status" role="status"></p>
<div class="bar-row" id="controls">
  <fieldset>
    <legend>Selection</legend>
    <label for="caller">Caller</label>
    <select id="caller"><option value="">All callers</option></select>
    <label for="integration">Integration</label>
    <select id="integration"><option value="">All integrations</option></select>
  </fieldset>
  <fieldset>
    <legend>Totals window</legend>
    <button type="button" data-window="last5m" aria-pressed="true">Last 5 minutes</button>
    <button type="button" data-window="last1h" aria-pressed="false">Last hour</button>
    <button type="button" data-window="sinceStart" aria-pressed="false">Since start</button>
  </fieldset>
  <fieldset>
    <legend>Share and export</legend>
    <a id="permalink" href="/admin">Link to this view</a>
    <button type="button" id="download-json">Download JSON</button>
    <button type="button" data-csv="outcomes">Outcomes CSV</button>
    <button type="button" data-csv="timeline">Per-minute CSV</button>
    <button type="button" data-csv="usage">Totals CSV</button>
    <button type="button" data-csv="credentials">Credentials CSV</button>
    <button type="button" data-csv="headroom">Headroom CSV</button>
  </fieldset>
  <button type="button" id="forget">Forget token</button>
</div>

<h2 id="timeline-title">Requests and errors per minute, last hour</h2>
<div class="legend" id="legend"></div>
<svg id="chart-timeline" width="720" height="180" role="img" aria-labelledby="timeline-title timeline-totals"></svg>
<p id="timeline-totals"></p>

<h2 id="credentials-title">Credentials</h2>
<p class="note">Marked when they expire in <span id="warn-days">30</span> days or fewer, strongly at <span id="critical-days">7</span> or fewer (the broker's credentials.expiryWarning).</p>
<table aria-labelledby="credentials-title">
  <thead><tr><th class="text" scope="col">Integration</th><th class="text" scope="col">Store</th><th scope="col">Version (in use)</th><th class="text" scope="col">Rotated at</th><th class="text" scope="col">Rotated by</th><th class="text" scope="col">Owner</th><th scope="col">Days to expiry</th><th class="text" scope="col">Token cached until</th><th class="text" scope="col">Last exchange</th></tr></thead>
  <tbody id="credentials-body"></tbody>
</table>

<h2 id="headroom-title">Atlassian headroom</h2>
<p class="note">The rate-limit headers of each integration's latest Atlassian answer that carried any, and active quota holds. This sidecar's view.</p>
<table aria-labelledby="headroom-title">
  <thead><tr><th class="text" scope="col">Integration</th><th scope="col">Remaining</th><th scope="col">Limit</th><th class="text" scope="col">Reset</th><th class="text" scope="col">Reason</th><th class="text" scope="col">Near limit</th><th class="text" scope="col">Beta quota</th><th class="text" scope="col">Seen at</th><th class="text" scope="col">Quota hold until</th></tr></thead>
  <tbody id="headroom-body"></tbody>
</table>
<h2>Requests and errors by caller <span class="note" id="chart-note"></span></h2>
<svg id="chart-requests" width="640" role="img" aria-label="requests and errors by caller"></svg>
<h2>p95 latency by caller and integration</h2>
<svg id="chart-latency" width="640" role="img" aria-label="p95 latency"></svg>

<section class="bulk">
<h2 id="outcomes-title">Outcomes per caller and integration, last hour</h2>
<table aria-labelledby="outcomes-title">
  <thead><tr id="outcomes-head"></tr></thead>
  <tbody id="outcomes-body"></tbody>
</table>
<p id="outcomes-empty" class="hidden">No calls in the last hour for this selection.</p>
</section>

<section class="bulk">
<h2 id="usage-title">Per caller and integration, <span id="window-name">last 5 minutes</span></h2>
<table aria-labelledby="usage-title">
  <thead><tr><th class="text" scope="col">Caller</th><th class="text" scope="col">Integration</th><th scope="col">Requests</th><th scope="col">Errors</th><th scope="col">429s</th><th scope="col">Bytes in</th><th scope="col">Bytes out</th><th scope="col">p50 ms</th><th scope="col">p95 ms</th></tr></thead>
  <tbody id="usage-body"></tbody>
</table>
<p id="empty" class="hidden">No calls in this window.</p>
</section>
`
