/**
 * The one ring of the recent past, minute by minute (src/minute-ring.ts): the window is exactly the `count` minutes
 * ending with now, a stale slot is emptied before reuse (after any gap, the clock stepping back included), and a ring
 * of 60 keeps 60 minutes, not 59 or 61.
 */
import t from 'tap'
import { epochMinute, HOUR_MINUTES, MINUTE_MS, minuteIso, MinuteRing } from '../src/minute-ring.js'

/** A counter per minute, as the hour counters use it. */
const counters = (minutes?: number): MinuteRing<{ count: number }> =>
  new MinuteRing({ empty: () => ({ count: 0 }), ...(minutes === undefined ? {} : { minutes }) })
const counts = (ring: MinuteRing<{ count: number }>, now: number, count?: number): Array<number | undefined> =>
  ring.last(now, count).map((slot) => slot?.count)

t.test('minutes start on the whole minute of the wall clock', async (t) => {
  t.equal(MINUTE_MS, 60_000)
  t.equal(epochMinute(Date.parse('2026-12-07T10:00:00.000Z')), Date.parse('2026-12-07T10:00:00.000Z') / MINUTE_MS)
  t.equal(epochMinute(Date.parse('2026-12-07T10:00:59.999Z')), epochMinute(Date.parse('2026-12-07T10:00:00.000Z')))
  t.equal(epochMinute(Date.parse('2026-12-07T10:01:00.000Z')), epochMinute(Date.parse('2026-12-07T10:00:00.000Z')) + 1)
})

t.test('a ring of 60 keeps exactly the current minute and the 59 before it, oldest first', async (t) => {
  const ring = counters()
  t.equal(ring.minutes, HOUR_MINUTES)
  const start = 29_000_000
  for (let minute = start; minute < start + 60; minute++) ring.at(minute).count = minute - start + 1
  const now = start + 59
  const hour = counts(ring, now)
  t.equal(hour.length, 60)
  t.same(hour, Array.from({ length: 60 }, (_unused, index) => index + 1), 'element i is minute now - 59 + i')
  t.equal(ring.get(start)?.count, 1, 'the minute 59 before now is still kept')

  ring.at(now + 1).count = 100
  t.equal(ring.get(start), undefined, 'writing minute 60 after it reused its slot')
  t.same(counts(ring, now + 1).slice(0, 2), [2, 3], 'the window moved by exactly one minute')
  t.equal(counts(ring, now + 1).at(-1), 100)
})

t.test('reading fewer minutes than kept gives the newest ones, ending with now', async (t) => {
  const ring = counters()
  const now = 29_000_100
  for (let back = 0; back < 10; back++) ring.at(now - back).count = back
  t.same(counts(ring, now, 5), [4, 3, 2, 1, 0])
  t.same(counts(ring, now, 1), [0])
  t.same(counts(ring, now - 1, 3), [3, 2, 1], 'the window ends with the minute asked for')
  t.same(ring.last(now, 0), [])
})

t.test('a minute without a write reads as undefined, and so does an unwritten ring', async (t) => {
  const ring = counters()
  const now = 29_000_200
  t.same(counts(ring, now, 3), [undefined, undefined, undefined])
  ring.at(now - 1).count = 7
  t.same(counts(ring, now, 3), [undefined, 7, undefined])
  t.equal(ring.get(now), undefined)
})

t.test('after a gap longer than the ring, every old minute is gone and each slot is emptied on reuse', async (t) => {
  const made: number[] = []
  const ring = new MinuteRing({ empty: () => { made.push(1); return { count: 0 } } })
  const start = 29_000_300
  for (let minute = start; minute < start + 60; minute++) ring.at(minute).count = 5
  const later = start + 60 + 61
  t.same(counts(ring, later), new Array(60).fill(undefined), 'nothing of the hour 61 minutes ago is read')
  t.equal(ring.get(start + 10)?.count, 5, 'a minute asked for by name is kept until its slot is reused')
  t.equal(ring.at(later).count, 0, 'the reused slot starts empty')
  t.equal(ring.at(later).count, 0, 'the same minute written again is the same value')
  ring.at(later).count = 3
  t.equal(ring.get(later)?.count, 3)
  t.equal(made.length, 61, 'a stale slot gets a new value from the factory when no clear is given')
})

t.test('a clear empties a stale value in place instead of making a new one', async (t) => {
  let made = 0
  const ring = new MinuteRing<number[]>({
    empty: () => { made++; return [0] },
    clear: (value) => { value[0] = 0 },
    minutes: 3
  })
  const first = ring.at(10)
  first[0] = 4
  t.equal(ring.at(13), first, 'minute 13 reuses minute 10\'s slot and its array')
  t.same(first, [0], 'cleared')
  t.equal(made, 1)
  t.same(ring.last(13), [undefined, undefined, [0]])
})

t.test('the clock stepping back: later minutes leave the window, and the earlier minute replaces its slot', async (t) => {
  const ring = counters()
  const now = 29_000_400
  ring.at(now - 2).count = 1
  ring.at(now).count = 2
  // The clock steps back two minutes: `now` is in the future, outside the window that ends two minutes earlier.
  t.same(counts(ring, now - 2, 3), [undefined, undefined, 1])
  t.equal(ring.get(now)?.count, 2, 'kept until its slot is reused')
  t.same(counts(ring, now - 2).filter((count) => count !== undefined), [1], 'the whole hour holds no later minute')
  // Further back, onto the slot `now` holds: the earlier minute starts empty, nothing of the later one leaks in.
  t.equal(ring.at(now - 60).count, 0)
  t.equal(ring.get(now), undefined, 'the later minute is gone')
  t.same(counts(ring, now - 60, 1), [0])
})

t.test('a ring of another size, and minutes before the epoch, keep their own slots', async (t) => {
  const ring = counters(5)
  for (let minute = -3; minute <= 3; minute++) ring.at(minute).count = minute + 10
  t.same(counts(ring, 3), [9, 10, 11, 12, 13])
  t.same(counts(ring, 3, 7), [undefined, undefined, 9, 10, 11, 12, 13], 'more than kept: the oldest are gone')
  t.equal(ring.get(-3), undefined, 'minute 2 reused the slot of minute -3')
})

t.test('minuteIso: when an epoch minute starts, in UTC', async (t) => {
  t.equal(minuteIso(epochMinute(Date.parse('2026-12-07T09:41:59.999Z'))), '2026-12-07T09:41:00.000Z')
  t.equal(minuteIso(0), '1970-01-01T00:00:00.000Z')
})
