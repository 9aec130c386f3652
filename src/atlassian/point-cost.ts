/**
 * What one call costs in Atlassian's points (rate-limiting doc, "points-based quota"; docs/points.md): "each request
 * starts with a base cost of 1 point, and additional points are added for each object involved. Write requests are
 * charged only the base cost". The broker estimates the objects of a read from the answer itself, without parsing it:
 * only a JSON 2xx answer of a known list endpoint is scanned (`listField`), by a byte scanner that counts the top-level
 * elements of the one array Atlassian pages in (`issues`, `values`, `results`, ...) as the bytes stream past, and stops
 * at that array's end. Everything else is base 1; a call Atlassian never answered costs nothing.
 */

export const BASE_POINTS = 1

/** Jira's issue lists (search, agile board/sprint/epic issues). */
const JIRA_ISSUES = /^\/rest\/(?:api\/(?:2|3|latest)\/search(?:\/jql)?|agile\/1\.0\/(?:board|sprint|epic)\/[^/]+\/issue)$/
const JIRA_COMMENTS = /^\/rest\/api\/(?:2|3|latest)\/issue\/[^/]+\/comment$/
const JIRA_WORKLOGS = /^\/rest\/api\/(?:2|3|latest)\/issue\/[^/]+\/worklog$/
/** Jira's paged lists (PageBean `values`): `.../search` listings, changelogs, boards, sprints, versions, components. */
const JIRA_VALUES = /^\/rest\/(?:api\/(?:2|3|latest)|agile\/1\.0)\/(?:.+\/)?(?:search|changelog|board|sprint|version|component)$/
/** Confluence's lists (v1 and v2 `results`): a path ending in a collection name, not an id. */
const CONFLUENCE_LIST = /^\/wiki\/(?:api\/v2|rest\/api)\/(?:[^/]+\/)*[a-z][a-z-]*$/

/** POST is a read only for these (JQL search with a body). */
const POST_READS = /^\/rest\/api\/(?:2|3|latest)\/search(?:\/jql)?$/

/**
 * The array field whose elements are the objects of this answer, or undefined when it is not counted (base cost only).
 * An answer whose root is an array (Jira's `/user/search`) counts its root elements whatever the field.
 */
export function listField (
  product: string, method: string, path: string, statusCode: number, contentType: unknown
): string | undefined {
  if (statusCode < 200 || statusCode >= 300) return undefined
  if (method !== 'GET' && !(method === 'POST' && POST_READS.test(path))) return undefined
  if (typeof contentType !== 'string' || !contentType.includes('json')) return undefined
  if (product === 'confluence') return CONFLUENCE_LIST.test(path) ? 'results' : undefined
  if (JIRA_ISSUES.test(path)) return 'issues'
  if (JIRA_COMMENTS.test(path)) return 'comments'
  if (JIRA_WORKLOGS.test(path)) return 'worklogs'
  return JIRA_VALUES.test(path) ? 'values' : undefined
}

const QUOTE = 0x22
const BACKSLASH = 0x5c
const COMMA = 0x2c
const COLON = 0x3a
const OPEN_OBJECT = 0x7b
const CLOSE_OBJECT = 0x7d
const OPEN_ARRAY = 0x5b
const CLOSE_ARRAY = 0x5d
/** Keys longer than this are never the field: their text is not kept. */
const MAX_KEY = 32

function isSpace (byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09
}

/**
 * Counts the elements of one top-level array field of a JSON object (or of a root array) as chunks arrive. Strings
 * are skipped with `indexOf` (native memchr): a JSON answer is mostly string bytes, so the per-byte loop runs only over
 * structure. Once the array has closed, later chunks cost nothing. Invalid JSON yields a count, never an exception.
 */
export class ObjectCounter {
  /** Elements seen so far. */
  objects = 0
  readonly #field: string
  #depth = 0
  #inString = false
  /** The previous chunk ended inside a string after an odd run of backslashes. */
  #escaped = false
  #expectKey = false
  /** The text of the root-level key being read; undefined when not reading one (or it is too long to matter). */
  #key: string | undefined
  #lastKey: string | undefined
  /** The value after the root-level key `#field` is next. */
  #armed = false
  /** Depth of the counted array's elements, 0 while not inside it. */
  #counting = 0
  #needElement = false
  #started = false
  #done = false

  constructor (field: string) {
    this.#field = field
  }

  get done (): boolean { return this.#done }

  write (chunk: Uint8Array): void {
    if (this.#done) return
    const length = chunk.length
    let index = 0
    while (index < length) {
      if (this.#inString) {
        index = this.#skipString(chunk, index)
        continue
      }
      const byte = chunk[index] as number
      index++
      if (isSpace(byte)) continue
      if (!this.#started) {
        this.#started = true
        if (byte === OPEN_ARRAY) { this.#depth = 1; this.#counting = 1; this.#needElement = true; continue }
      }
      if (this.#counting !== 0 && this.#depth === this.#counting && this.#needElement && byte !== CLOSE_ARRAY) {
        this.objects++
        this.#needElement = false
      }
      if (byte === QUOTE) {
        this.#inString = true
        this.#key = this.#depth === 1 && this.#expectKey ? '' : undefined
        this.#armed = false
      } else if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
        this.#depth++
        if (this.#depth === 1) this.#expectKey = true
        if (this.#depth === 2 && this.#armed && byte === OPEN_ARRAY) { this.#counting = 2; this.#needElement = true }
        this.#armed = false
      } else if (byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) {
        if (this.#counting !== 0 && this.#depth === this.#counting) { this.#done = true; return }
        this.#depth--
      } else if (byte === COMMA) {
        if (this.#depth === 1) this.#expectKey = true
        if (this.#counting !== 0 && this.#depth === this.#counting) this.#needElement = true
        this.#armed = false
      } else if (byte === COLON) {
        if (this.#depth === 1) this.#armed = this.#lastKey === this.#field
      } else {
        this.#armed = false
      }
    }
  }

  /** Inside a string from `index`: to the byte after its closing quote, or the chunk's end. */
  #skipString (chunk: Uint8Array, index: number): number {
    let from = index
    for (;;) {
      // A Buffer's indexOf is memchr; a plain Uint8Array's is the typed-array one, same answer.
      const quote = chunk.indexOf(QUOTE, from)
      if (quote === -1) {
        this.#keepKey(chunk, index, chunk.length)
        this.#escaped = oddBackslashesBefore(chunk, chunk.length, index, this.#escaped)
        return chunk.length
      }
      if (oddBackslashesBefore(chunk, quote, index, this.#escaped)) { from = quote + 1; continue }
      this.#keepKey(chunk, index, quote)
      this.#escaped = false
      this.#inString = false
      if (this.#key !== undefined) {
        this.#lastKey = this.#key
        this.#expectKey = false
        this.#key = undefined
      }
      return quote + 1
    }
  }

  #keepKey (chunk: Uint8Array, from: number, to: number): void {
    if (this.#key === undefined) return
    if (this.#key.length + to - from > MAX_KEY) { this.#key = undefined; this.#expectKey = false; this.#lastKey = undefined; return }
    this.#key += Buffer.from(chunk.buffer, chunk.byteOffset + from, to - from).toString('latin1')
  }
}

/** Whether the bytes before `end` (back to `start`, then the previous chunk's carry) are an odd run of backslashes. */
function oddBackslashesBefore (chunk: Uint8Array, end: number, start: number, carried: boolean): boolean {
  let run = 0
  let at = end - 1
  while (at >= start && chunk[at] === BACKSLASH) { run++; at-- }
  const odd = run % 2 === 1
  return at < start && carried ? !odd : odd
}

/** Points of an answer: the base, plus one per object counted (undefined counter: not a counted list). */
export function pointsOf (counter: ObjectCounter | undefined): number {
  return BASE_POINTS + (counter?.objects ?? 0)
}
