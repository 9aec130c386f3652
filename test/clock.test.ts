import t from 'tap'
import { ManualClock } from './helpers/manual-clock.js'

t.test('manual clock fires due timers in order', async (t) => {
  const clock = new ManualClock(0)
  const fired: number[] = []
  clock.setTimer(() => fired.push(2), 200)
  clock.setTimer(() => fired.push(1), 100)
  const cancelled = clock.setTimer(() => fired.push(3), 150)
  clock.clearTimer(cancelled)
  await clock.advance(150)
  t.same(fired, [1])
  await clock.advance(100)
  t.same(fired, [1, 2])
  t.equal(clock.now(), 250)
})
