/**
 * Glob patterns for callers, integrations and paths. `*` matches within one path segment, `**` across segments,
 * `?` one character of a segment. Everything else is literal, so a rule can never be widened by a regex metacharacter.
 */
export function isGlob (pattern: string): boolean {
  return /[*?]/.test(pattern)
}

export function globToRegExp (pattern: string): RegExp {
  let source = ''
  for (let index = 0; index < pattern.length; index++) {
    const char = pattern[index] as string
    if (char === '*') {
      if (pattern[index + 1] === '*') {
        // "/**" at the end also matches the bare prefix ("/rest/**" allows "/rest")
        const atSegmentEnd = index + 2 === pattern.length && source.endsWith('/')
        if (atSegmentEnd) source = source.slice(0, -1) + '(?:/.*)?'
        else source += '.*'
        index++
      } else {
        source += '[^/]*'
      }
    } else if (char === '?') {
      source += '[^/]'
    } else {
      source += char.replace(/[\\^$.|+()[\]{}-]/g, '\\$&')
    }
  }
  return new RegExp(`^${source}$`)
}
