/**
 * The ops page at `GET /admin`: one self-contained HTML document (inline CSS and JS, no external asset). It holds no
 * data: it asks for the admin token, fetches `/admin/usage` and `/admin/ops` with it, and redraws every few seconds.
 * On the admin listener, where no token is needed, it shows the data at once.
 *
 * Its HTML, CSS and JS are real files next to this one (ops-page.html, ops-page.css, ops-page-render.js,
 * ops-page-app.js: no asset may share a name with this module's compiled ops-page.js), linted as what they are, and
 * copied into dist/ by the build (scripts/copy-assets.mjs). They are read when the page is first
 * asked for, not at start (an optional part loads only when used), and the document is then kept. A hash-based CSP
 * computed from the files' own text lets only those scripts and that style run, and the page talk to its own origin.
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { CALL_OUTCOMES } from '../../usage/call-outcome.js'

export const USAGE_REFRESH_MS = 5_000

/** How the page names each outcome (legend, table heads, CSV stays with the field names). */
export const OUTCOME_LABELS: Readonly<Record<typeof CALL_OUTCOMES[number], string>> = {
  ok: '2xx',
  brokerRefused: 'Refused by the broker',
  atlassianRefused: 'Refused by Atlassian (4xx)',
  callerLimited: '429: caller limit',
  quotaHeld: '429: quota hold',
  atlassianLimited: '429: Atlassian',
  failed: '5xx / timeout'
}

export interface OpsPage {
  html: string
  csp: string
}

const ASSET_ELEMENT = /<(style|script)( type="application\/json" id="page-config")? data-asset="([a-z.-]+)"><\/\1>/g

const hash = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`

/** Builds the document from the asset files in `dir` (a URL of this folder, in src/ or dist/). */
export async function buildOpsPage (dir: URL = new URL('./', import.meta.url)): Promise<OpsPage> {
  const read = async (name: string): Promise<string> => await readFile(new URL(name, dir), 'utf8')
  const template = await read('ops-page.html')
  // The server's own lists, as JSON data (never run, so no CSP entry): `<` escaped so no value can end the element.
  const pageConfig = JSON.stringify({
    outcomes: CALL_OUTCOMES, outcomeLabels: OUTCOME_LABELS, refreshMs: USAGE_REFRESH_MS
  }).replaceAll('<', '\\u003c')
  const assets = new Map<string, string>()
  for (const [, , , name] of template.matchAll(ASSET_ELEMENT)) {
    if (name !== undefined && name !== 'page-config') assets.set(name, await read(name))
  }
  for (const [name, text] of assets) {
    if (/<\/(script|style)/i.test(text)) throw new Error(`${name} must not contain a closing </script> or </style>`)
  }
  const scripts: string[] = []
  const styles: string[] = []
  const html = template.replace(ASSET_ELEMENT, (_element, tag: string, data: string | undefined, name: string) => {
    if (data !== undefined) return `<script type="application/json" id="page-config">${pageConfig}</script>`
    const text = assets.get(name) ?? ''
    ;(tag === 'style' ? styles : scripts).push(hash(text))
    return `<${tag}>${text}</${tag}>`
  })
  const csp = [
    "default-src 'none'", `script-src ${scripts.join(' ')}`, `style-src ${styles.join(' ')}`, "connect-src 'self'",
    "img-src 'self' data:", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'"
  ].join('; ')
  return { html, csp }
}

let loaded: Promise<OpsPage> | undefined

/** The page, read from its files at the first call and kept (a failed read is tried again at the next call). */
export async function loadOpsPage (): Promise<OpsPage> {
  loaded ??= buildOpsPage().catch((error: unknown) => {
    loaded = undefined
    throw error
  })
  return await loaded
}
