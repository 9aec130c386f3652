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

/**
 * Counts the elements of one top-level array field of a JSON object (or of a root array) as chunks arrive: one pass
 * over the bytes with the state in locals, two comparisons per byte inside strings (most of a JSON answer), and
 * nothing at all once the array has closed. Invalid JSON yields a count, never an exception.
 */
export class ObjectCounter {
  /** Elements seen so far. */
  objects = 0
  readonly #field: string
  #depth = 0
  #inString = false
  /** The previous chunk ended on a backslash inside a string: the next byte is escaped. */
  #escaped = false
  #expectKey = false
  /** The root-level key being read (undefined when not reading one, or once it is too long to matter). */
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
    let depth = this.#depth
    let counting = this.#counting
    let needElement = this.#needElement
    let inString = this.#inString
    let index = 0
    if (inString && this.#escaped) { index = 1; this.#escaped = false }
    while (index < length) {
      if (inString) {
        const from = index
        index = stringEnd(chunk, index)
        if (this.#key !== undefined) this.#keepKey(chunk, from, Math.min(index, length))
        if (index >= length) {
          // A backslash as the chunk's last byte escapes the next chunk's first.
          this.#escaped = index > length
          break
        }
        index++
        inString = false
        if (this.#key !== undefined) {
          this.#lastKey = this.#key
          this.#key = undefined
          this.#expectKey = false
        }
        continue
      }
      const byte = chunk[index] as number
      index++
      if (byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09) continue
      if (!this.#started) {
        this.#started = true
        if (byte === OPEN_ARRAY) { depth = 1; counting = 1; needElement = true; continue }
      }
      if (needElement && depth === counting && byte !== CLOSE_ARRAY) {
        this.objects++
        needElement = false
      }
      if (byte === QUOTE) {
        inString = true
        this.#key = depth === 1 && this.#expectKey ? '' : undefined
        this.#armed = false
      } else if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
        depth++
        if (depth === 1) this.#expectKey = true
        if (depth === 2 && this.#armed && byte === OPEN_ARRAY) { counting = 2; needElement = true }
        this.#armed = false
      } else if (byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) {
        if (counting !== 0 && depth === counting) { this.#done = true; return }
        depth--
      } else if (byte === COMMA) {
        if (depth === 1) this.#expectKey = true
        if (counting !== 0 && depth === counting) needElement = true
        this.#armed = false
      } else if (byte === COLON) {
        if (depth === 1) this.#armed = this.#lastKey === this.#field
      } else {
        this.#armed = false
      }
    }
    this.#depth = depth
    this.#counting = counting
    this.#needElement = needElement
    this.#inString = inString
  }

  #keepKey (chunk: Uint8Array, from: number, to: number): void {
    const key = this.#key as string
    if (key.length + to - from > MAX_KEY) {
      this.#key = undefined
      this.#expectKey = false
      this.#lastKey = undefined
      return
    }
    this.#key = key + Buffer.from(chunk.buffer, chunk.byteOffset + from, to - from).toString('latin1')
  }
}

/** Short strings are read here; past this many bytes the next quote is found by `indexOf` (memchr). */
const SHORT_STRING = 16

/**
 * From `index`, not inside an escape, to the closing quote of the string (its index), or past the chunk's end:
 * `length`, or `length + 1` when the chunk ends on a backslash that escapes the next chunk's first byte.
 */
function stringEnd (chunk: Uint8Array, index: number): number {
  const length = chunk.length
  const limit = Math.min(length, index + SHORT_STRING)
  while (index < limit) {
    const byte = chunk[index] as number
    if (byte === QUOTE) return index
    index += byte === BACKSLASH ? 2 : 1
  }
  if (index >= length) return index
  // `index` is not inside an escape: a quote after it is escaped when an odd run of backslashes (back to `index`)
  // stands before it.
  let from = index
  for (;;) {
    const quote = chunk.indexOf(QUOTE, from)
    const end = quote === -1 ? length : quote
    let run = 0
    while (end - run - 1 >= index && chunk[end - run - 1] === BACKSLASH) run++
    if (quote === -1) return run % 2 === 1 ? length + 1 : length
    if (run % 2 === 0) return quote
    from = quote + 1
  }
}

/** Points of an answer: the base, plus one per object counted (undefined counter: not a counted list). */
export function pointsOf (counter: ObjectCounter | undefined): number {
  return BASE_POINTS + (counter?.objects ?? 0)
}
