/**
 * Strict ISO 8601 dates for credential expiry (`expiresAt`, `--expires-at`): `Date.parse` repairs what it should refuse
 * ("2027-02-30" becomes 2 March, arbitrary text such as "soon 1" becomes a date in 2001), so an operator's typo became
 * a wrong expiry alert. Accepted: a calendar date `YYYY-MM-DD` (midnight UTC), or a date-time with seconds optional, a
 * fraction optional and an explicit offset (`Z` or `±HH:MM`, RFC 3339 section 5.6): a time without an offset would
 * depend on the broker's time zone.
 */
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/

function daysInMonth (year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate()
}

/** Epoch milliseconds of a strict ISO 8601 date or date-time, or undefined when it is not a real one. */
export function parseIsoDate (text: string): number | undefined {
  const date = DATE.exec(text)
  const parts = date ?? DATE_TIME.exec(text)
  if (parts === null) return undefined
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((index) => Number(parts[index] ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number
  ]
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined
  if (hour > 23 || minute > 59 || second > 59) return undefined
  const millis = Number((parts[7] ?? '').padEnd(3, '0').slice(0, 3))
  let offsetMinutes = 0
  if (date === null && parts[9] !== undefined) {
    const offsetHours = Number(parts[10])
    const offsetMins = Number(parts[11])
    if (offsetHours > 23 || offsetMins > 59) return undefined
    offsetMinutes = (parts[9] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMins)
  }
  const utc = new Date(0)
  // setUTCFullYear, not Date.UTC: Date.UTC maps years 0-99 to 1900-1999.
  utc.setUTCFullYear(year, month - 1, day)
  utc.setUTCHours(hour, minute, second, millis)
  return utc.getTime() - offsetMinutes * 60_000
}
