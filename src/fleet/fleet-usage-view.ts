/**
 * The fleet view of usage (`GET /admin/usage?scope=fleet`): the pods' published hours (fleet-usage.ts) read back in
 * one script call and added up with the same cells and figures as the pod view (usage/tally-cell.ts). The read is
 * bounded: the script returns at most `maxFields` fields (newest minutes first) and says when it stopped.
 *
 * `complete` is true only when every pod that answered (left a marker in the hour) has its marker in every minute
 * from its start, or the hour's first minute, to its latest minute; nothing was cut by the bound; and the record is
 * not being rebuilt: for two flush intervals after the record was (re)started (`since`), if a pod that answered was
 * already counting well before it, Redis lost data and pods that have not flushed since may still be missing.
 */
import { compareLabels, compareSeries, decodeCell, emptyCell, mergeCell, pointsIn, usageFigures, callsIn, type TallyCell, type UsageFigures } from '../usage/tally-cell.js'
import { epochMinute, minuteIso } from '../minute-ring.js'
import { TALLY_MINUTES } from '../usage/tally.js'
import type { FleetPoolRow } from './fleet-pools.js'
import type { FleetKeys } from './keys.js'
import type { RedisLink } from './redis-link.js'

/** About 10 MB of answer: 500 pods × 20 series × 20 minutes, or fewer pods over the whole hour. */
export const DEFAULT_MAX_FIELDS_READ = 200_000
/** The most characters one read returns (fields and values): a forged hash of huge values stops here. */
export const DEFAULT_MAX_CHARS_READ = 16 * 1024 * 1024
/** A field or value longer than this is no pod's (a name triple or a cell is well under it): skipped, counted. */
const MAX_ITEM_CHARS = 1_024

// KEYS[1]: the record's start; KEYS[2..]: the minutes, newest first. ARGV: the most fields, the most characters, the
// longest field or value. A minute's size is checked (HLEN) before it is read, so a hash of a million forged fields is
// never walked nor sent; what is too long is skipped. Answers { since, truncated, fields, chars, skipped, minutes... }.
const READ_HOUR = `
local cap, maxChars, maxItem = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local since = ''
if redis.call('TYPE', KEYS[1]).ok == 'string' and redis.call('STRLEN', KEYS[1]) <= 32 then since = redis.call('GET', KEYS[1]) end
local answer = { since, 0, 0, 0, 0 }
local total, chars, skipped = 0, 0, 0
for i = 2, #KEYS do
  local kind = redis.call('TYPE', KEYS[i]).ok
  local size = 0
  if kind == 'hash' then size = redis.call('HLEN', KEYS[i]) end
  if total + size > cap then
    answer[2] = 1
    break
  end
  local kept = {}
  if size > 0 then
    local fields = redis.call('HGETALL', KEYS[i])
    for j = 1, #fields, 2 do
      local length = #fields[j] + #fields[j + 1]
      if #fields[j] > maxItem or #fields[j + 1] > maxItem then
        skipped = skipped + 1
      else
        chars = chars + length
        kept[#kept + 1] = fields[j]
        kept[#kept + 1] = fields[j + 1]
      end
    end
  end
  if chars > maxChars then
    answer[2] = 1
    break
  end
  total = total + size
  answer[#answer + 1] = kept
end
answer[3], answer[4], answer[5] = total, chars, skipped
return answer
`

export interface FleetHour {
  /** When the record was (re)started, epoch ms; undefined when Redis holds none. */
  since: number | undefined
  truncated: boolean
  /** What the read returned, and the fields it skipped as too long: the bounds at work. */
  fieldsRead: number
  charsRead: number
  skipped: number
  /** Per minute, newest first (the current minute at 0), the hash as [field, value, ...]; fewer when cut. */
  minutes: string[][]
}

type Figures = UsageFigures
export interface FleetUsageSeries {
  caller: string
  integration: string
  last5m: Figures
  last1h: Figures
  /** The fleet keeps the last hour: "since start" is the last hour here. */
  sinceStart: Figures
  /** Atlassian points per minute over the hour, oldest first, the current minute last (as `/admin/usage`). */
  pointsByMinute: number[]
  byPod: Record<string, { last5m: number, last1h: number }>
}

export interface FleetUsageSnapshot {
  scope: 'fleet'
  generatedAt: string
  /** The start of the hour shown. */
  startedAt: string
  complete: boolean
  pods: Array<{ pod: string, last5m: number, last1h: number }>
  series: FleetUsageSeries[]
  /** Atlassian's points pools, the freshest reading of any pod (fleet-pools.ts); absent when they could not be read. */
  pools?: FleetPoolRow[]
}

export async function readFleetHour (
  link: RedisLink,
  keys: FleetKeys,
  minute: number,
  bounds: { maxFields: number, maxChars: number }
): Promise<FleetHour | undefined> {
  const keyList = [
    keys.usageSince,
    ...Array.from({ length: TALLY_MINUTES }, (_unused, back) => keys.usage(minute - back))
  ]
  const answer = await link.run(async (redis) =>
    await redis.eval(READ_HOUR, keyList.length, ...keyList, bounds.maxFields, bounds.maxChars, MAX_ITEM_CHARS))
  if (!Array.isArray(answer) || answer.length < 5) return undefined
  const [since, truncated, fieldsRead, charsRead, skipped, ...minutes] = answer as unknown[]
  const sinceMs = Number(since)
  return {
    since: since === '' || !Number.isFinite(sinceMs) ? undefined : sinceMs,
    truncated: truncated !== 0,
    fieldsRead: Number(fieldsRead),
    charsRead: Number(charsRead),
    skipped: Number(skipped),
    minutes: minutes.map((flat) => (Array.isArray(flat) ? flat.map(String) : []))
  }
}

interface PodEntry { pod: string, startedAt: number, minutes: Set<number>, last5m: number, last1h: number }
interface SeriesEntry {
  caller: string
  integration: string
  last5m: TallyCell
  last1h: TallyCell
  pointsByMinute: number[]
  byPod: FleetUsageSeries['byPod']
}

export function fleetSnapshot (hour: FleetHour | undefined, at: { now: number, flushMs: number }): FleetUsageSnapshot {
  const now = epochMinute(at.now)
  const first = now - TALLY_MINUTES + 1
  const pods = new Map<string, PodEntry>()
  const series = new Map<string, SeriesEntry>()
  hour?.minutes.forEach((flat, back) => {
    const minute = now - back
    // Markers first: a field counts only beside its pod's marker, which is written in the same HSET.
    const present = new Set<string>()
    for (let index = 0; index + 1 < flat.length; index += 2) {
      const [pod, rest, extra] = (flat[index] as string).split('\u0000')
      const startedAt = Number(flat[index + 1])
      if (pod === undefined || pod === '' || rest !== '' || extra !== undefined || !Number.isFinite(startedAt)) continue
      present.add(pod)
      const entry = pods.get(pod) ?? { pod, startedAt, minutes: new Set<number>(), last5m: 0, last1h: 0 }
      entry.startedAt = Math.max(entry.startedAt, startedAt)
      entry.minutes.add(minute)
      pods.set(pod, entry)
    }
    for (let index = 0; index + 1 < flat.length; index += 2) {
      const [pod, caller, integration, extra] = (flat[index] as string).split('\u0000')
      if (pod === undefined || !present.has(pod) || caller === undefined || caller === '' || integration === undefined || extra !== undefined) continue
      const cell = decodeCell(flat[index + 1] as string)
      if (cell === undefined) continue
      const id = `${caller}\u0000${integration}`
      const pointsByMinute = (): number[] => new Array<number>(TALLY_MINUTES).fill(0)
      const entry = series.get(id) ??
        { caller, integration, last5m: emptyCell(), last1h: emptyCell(), pointsByMinute: pointsByMinute(), byPod: {} }
      series.set(id, entry)
      const slot = TALLY_MINUTES - 1 - back
      entry.pointsByMinute[slot] = (entry.pointsByMinute[slot] as number) + pointsIn(cell)
      const calls = callsIn(cell)
      const perPod = entry.byPod[pod] ?? { last5m: 0, last1h: 0 }
      entry.byPod[pod] = perPod
      const podEntry = pods.get(pod) as PodEntry
      mergeCell(entry.last1h, cell)
      perPod.last1h += calls
      podEntry.last1h += calls
      if (back < 5) {
        mergeCell(entry.last5m, cell)
        perPod.last5m += calls
        podEntry.last5m += calls
      }
    }
  })
  return {
    scope: 'fleet',
    generatedAt: new Date(at.now).toISOString(),
    startedAt: minuteIso(first),
    complete: complete(hour, pods, { first, now: at.now, flushMs: at.flushMs }),
    pods: [...pods.values()]
      .map(({ pod, last5m, last1h }) => ({ pod, last5m, last1h }))
      .sort((a, b) => compareLabels(a.pod, b.pod)),
    series: [...series.values()].sort(compareSeries).map((entry) => {
      const last1h = usageFigures(entry.last1h)
      // The fleet keeps an hour: since start is that hour.
      return {
        caller: entry.caller,
        integration: entry.integration,
        last5m: usageFigures(entry.last5m),
        last1h,
        sinceStart: last1h,
        pointsByMinute: entry.pointsByMinute,
        byPod: entry.byPod
      }
    })
  }
}

function complete (
  hour: FleetHour | undefined,
  pods: ReadonlyMap<string, PodEntry>,
  at: { first: number, now: number, flushMs: number }
): boolean {
  if (hour === undefined || hour.truncated || hour.minutes.length < TALLY_MINUTES) return false
  if (hour.since === undefined) return false
  const since = hour.since
  for (const pod of pods.values()) {
    const from = Math.max(at.first, epochMinute(pod.startedAt))
    const to = Math.max(...pod.minutes)
    for (let minute = from; minute <= to; minute++) if (!pod.minutes.has(minute)) return false
    // Counting since well before the record began: Redis lost data, and another pod may not have flushed again yet.
    if (at.now - since < 2 * at.flushMs && pod.startedAt < since - at.flushMs) return false
  }
  return true
}
