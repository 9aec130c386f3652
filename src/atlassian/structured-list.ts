/**
 * The structured `RateLimit` and `RateLimit-Policy` headers (and their `Beta-` forms) as Atlassian sends them, read
 * leniently: `"global-app-quota";q=65000;w=3600, "tenant-app-quota";q=10000`. Used by rate-limit-headers.ts, which
 * owns what the headers mean; this file only splits and caches.
 */

/** One entry of a structured `RateLimit`/`RateLimit-Policy` header: `"global-app-quota";q=65000;w=3600`. */
export interface RateLimitEntry {
  readonly name: string
  readonly params: Readonly<Record<string, number | string | true>>
}

// Atlassian repeats the same few policy strings on every answer: each distinct one is parsed once. The entries are
// frozen, so answers can share them; the map is emptied when full, so made-up values cannot grow it.
const parsedEntries = new Map<string, readonly RateLimitEntry[]>()
const PARSED_ENTRIES_MAX = 256

/** A lenient reader of RFC 9651 lists: entries split on `,`, parameters on `;`, in any order and number. */
export function parseStructuredList (text: string): readonly RateLimitEntry[] {
  let entries = parsedEntries.get(text)
  if (entries === undefined) {
    entries = parseEntriesText(text)
    if (parsedEntries.size >= PARSED_ENTRIES_MAX) parsedEntries.clear()
    parsedEntries.set(text, entries)
  }
  return entries
}

function parseEntriesText (text: string): readonly RateLimitEntry[] {
  const entries: RateLimitEntry[] = []
  for (const raw of splitOutsideQuotes(text, 44 /* , */)) {
    const [head, ...rest] = splitOutsideQuotes(raw, 59 /* ; */)
    const name = unquote(head ?? '')
    if (name === '') continue
    const params: Record<string, number | string | true> = {}
    for (const part of rest) {
      const equals = part.indexOf('=')
      const key = (equals === -1 ? part : part.slice(0, equals)).trim().toLowerCase()
      if (key === '') continue
      if (equals === -1) { params[key] = true; continue }
      const raw = part.slice(equals + 1).trim()
      params[key] = /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : unquote(raw)
    }
    entries.push(Object.freeze({ name, params: Object.freeze(params) }))
  }
  return Object.freeze(entries)
}

/** Splits at `separator` (a char code) outside double quotes; parts trimmed, empty ones dropped. */
function splitOutsideQuotes (text: string, separator: number): string[] {
  const parts: string[] = []
  let start = 0
  let quoted = false
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index)
    if (code === 34 /* " */) quoted = !quoted
    else if (code === separator && !quoted) {
      const part = text.slice(start, index).trim()
      if (part !== '') parts.push(part)
      start = index + 1
    }
  }
  const last = text.slice(start).trim()
  if (last !== '') parts.push(last)
  return parts
}

function unquote (text: string): string {
  const trimmed = text.trim()
  return trimmed.length >= 2 && trimmed.startsWith('"') && trimmed.endsWith('"') ? trimmed.slice(1, -1).replace(/\\(.)/g, '$1') : trimmed
}
