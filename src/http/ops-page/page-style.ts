import { CALL_OUTCOMES } from '../../usage/call-outcome.js'

/** The ops page's CSS: light and dark (prefers-color-scheme), a visible keyboard focus, colours that are never the only
 * signal. */
export const PAGE_STYLE = `
:root { color-scheme: light dark; --bg: #fff; --fg: #1d1f23; --muted: #666; --line: #8884; --bar: #2f6fde; --err: #c0362c;
  --focus: #1a5fd0; --warn-bg: #fff1c2; --crit-bg: #ffd6d2; --held-bg: #ffe2c7;
  --o-ok: #2e9e5b; --o-brokerRefused: #e08a1e; --o-atlassianRefused: #8e5bd6; --o-callerLimited: #c9a400;
  --o-quotaHeld: #d9631e; --o-atlassianLimited: #d1453b; --o-failed: #7a1f1f; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #16181d; --fg: #e4e6ea; --muted: #a0a4ab; --line: #fff3; --bar: #6c9cf0; --err: #ff7b70; --focus: #8ab4ff;
    --warn-bg: #4a3b00; --crit-bg: #5c1a16; --held-bg: #5a3210; --o-failed: #e06666; }
}
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; background: var(--bg); color: var(--fg); }
h1 { font-size: 1.3rem; margin: 0 0 .8rem; }
h2 { font-size: 1.05rem; margin: 1.6rem 0 .4rem; }
form, .bar-row { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; }
input[type=password] { width: 28rem; max-width: 100%; padding: .3rem; }
button, select, a.button { padding: .3rem .7rem; font: inherit; }
button { cursor: pointer; }
/* A fixed width: sizing a list of 500 callers to its longest name costs more than drawing the tables. */
select { width: 18rem; }
a { color: var(--focus); }
button[aria-pressed=true] { font-weight: bold; }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
fieldset { border: 1px solid var(--line); padding: .4rem .7rem; display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; }
table { border-collapse: collapse; margin-top: .5rem; }
/* Tables of hundreds of callers: laid out only when scrolled near, so a refresh stays quick. */
section.bulk { content-visibility: auto; contain-intrinsic-size: auto 600px; }
section.bulk table { table-layout: fixed; width: 100%; max-width: 75rem; }
section.bulk th:first-child { width: 24%; }
section.bulk td { overflow-wrap: anywhere; }
th, td { padding: .25rem .6rem; border-bottom: 1px solid var(--line); text-align: right; }
th.text, td.text { text-align: left; }
#status { color: var(--muted); }
#status.error { color: var(--err); }
.hidden { display: none; }
.note { color: var(--muted); font-size: .9em; }
tr.expiry-warning td { background: var(--warn-bg); }
tr.expiry-critical td, tr.expiry-expired td { background: var(--crit-bg); font-weight: bold; }
tr.held td { background: var(--held-bg); }
.swatch { display: inline-block; width: .8em; height: .8em; margin-right: .3em; vertical-align: -.05em; }
.legend { display: flex; gap: 1rem; flex-wrap: wrap; margin: .3rem 0; }
svg text { font: 12px system-ui, sans-serif; fill: currentColor; }
svg line { stroke: var(--line); }
${CALL_OUTCOMES.map((outcome) => `.o-${outcome} { background: var(--o-${outcome}); }`).join('\n')}
`
