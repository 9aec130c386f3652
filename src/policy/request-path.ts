/**
 * Turns the caller's raw request target into the one path that is both checked by policy and forwarded upstream.
 * Anything ambiguous is refused rather than "fixed": servers behind the gateway (Tomcat for Jira and Confluence)
 * interpret dot segments, `;` path parameters, encoded slashes and backslashes in ways a proxy cannot predict.
 * Unreserved characters that were percent-encoded are decoded (RFC 3986 section 6.2.2.2), so "/%69ssue" and "/issue"
 * are checked as the same path. Encoded bytes must be UTF-8 (an overlong "%C0%AE" was Tomcat's CVE-2008-2938), and a
 * segment whose Unicode compatibility form (NFKC) is a dot segment or holds "/", "\\", ";" or "%"
 * ("%EF%BC%8E%EF%BC%8E",
 * fullwidth "．．") is refused too: whatever layer behind the gateway normalises, it cannot climb out of the checked
 * path.
 */
export interface SafePath {
  /** Normalized path, starting with "/", checked by policy and forwarded. */
  path: string
  /** The raw query string after "?", forwarded byte for byte ("" when absent). */
  query: string
}

export type PathCheck = { ok: true, value: SafePath } | { ok: false, reason: string }

const UNRESERVED = /^[A-Za-z0-9\-._~]$/
const PCHAR = /^[A-Za-z0-9\-._~!$&'()*+,=:@%]$/
/** A path of plain characters only (no "%", ";" or "\\"): the loop below would copy it unchanged. */
const PLAIN_PATH = /^[A-Za-z0-9\-._~!$&'()*+,=:@/]*$/

export const DEFAULT_MAX_PATH_LENGTH = 4_096

export function checkRequestPath (rawPath: string, rawQuery: string, maxLength = DEFAULT_MAX_PATH_LENGTH): PathCheck {
  if (rawPath.length > maxLength) return { ok: false, reason: `path longer than ${maxLength} characters` }
  if (rawPath === '') rawPath = '/'
  if (!rawPath.startsWith('/')) return { ok: false, reason: 'path must start with "/"' }
  // The usual path has nothing to decode or refuse character by character: checked whole, then only its segments.
  const path = PLAIN_PATH.test(rawPath) ? rawPath : normalizeCharacters(rawPath)
  if (typeof path !== 'string') return path
  const segments = path.split('/')
  for (let index = 1; index < segments.length; index++) {
    const segment = segments[index] as string
    if (segment === '.' || segment === '..') return { ok: false, reason: 'dot segment' }
    if (segment === '' && index < segments.length - 1) return { ok: false, reason: 'empty path segment ("//")' }
    if (segment.includes('%')) {
      const refused = checkEncodedSegment(segment)
      if (refused !== undefined) return { ok: false, reason: refused }
    }
  }
  // RFC 9110 section 7.1: a fragment is never part of a request target; a server behind the gateway might cut it or
  // not.
  if (rawQuery.includes('#')) return { ok: false, reason: 'a fragment ("#") in the request target' }
  return { ok: true, value: { path, query: rawQuery } }
}

/** The path with unreserved characters decoded and other escapes upper-cased, or why it is refused. */
function normalizeCharacters (rawPath: string): string | { ok: false, reason: string } {
  let path = ''
  for (let index = 0; index < rawPath.length; index++) {
    const char = rawPath[index] as string
    if (char === '%') {
      const hex = rawPath.slice(index + 1, index + 3)
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return { ok: false, reason: 'malformed percent-encoding' }
      const decoded = String.fromCharCode(parseInt(hex, 16))
      if (decoded === '%') return { ok: false, reason: 'double percent-encoding' }
      if (decoded === '/' || decoded === '\\') return { ok: false, reason: 'encoded slash or backslash' }
      if (decoded === ';') return { ok: false, reason: 'encoded ";"' }
      if (decoded.charCodeAt(0) < 0x20 || decoded.charCodeAt(0) === 0x7f) return { ok: false, reason: 'encoded control character' }
      path += UNRESERVED.test(decoded) ? decoded : `%${hex.toUpperCase()}`
      index += 2
      continue
    }
    if (char === '/') { path += char; continue }
    if (char === ';') return { ok: false, reason: '";" path parameters' }
    if (char === '\\') return { ok: false, reason: 'backslash' }
    if (!PCHAR.test(char)) return { ok: false, reason: 'character not allowed in a path' }
    path += char
  }
  return path
}

/** Encoded control characters are refused before this check, so only separators can appear after folding. */
const FOLDS_TO_SEPARATOR = /[/\\;%]/

/** Why an encoded segment is refused, or undefined: not UTF-8, or unsafe once Unicode-normalised (UAX #15, NFKC). */
function checkEncodedSegment (segment: string): string | undefined {
  let decoded: string
  try {
    decoded = decodeURIComponent(segment)
  } catch {
    return 'percent-encoded bytes that are not UTF-8'
  }
  const folded = decoded.normalize('NFKC')
  if (folded === '.' || folded === '..') return 'an encoded character that Unicode normalisation turns into a dot segment'
  if (FOLDS_TO_SEPARATOR.test(folded)) return 'an encoded character that Unicode normalisation turns into "/", "\\", ";" or "%"'
  return undefined
}

/** Splits a raw request URL ("/a/b?x=1") into path and query without decoding anything. */
export function splitTarget (rawUrl: string): { path: string, query: string } {
  const mark = rawUrl.indexOf('?')
  return mark === -1 ? { path: rawUrl, query: '' } : { path: rawUrl.slice(0, mark), query: rawUrl.slice(mark + 1) }
}
