/**
 * caller-upload.ts on its own: the idle deadline counts only while the broker is ready to read (backpressure from a
 * busy upstream is not the caller's slowness), the total deadline always, the minimum rate per idle window while the
 * broker reads; the byte limit; the first failure is kept.
 * The deadlines run on a ManualClock: the test moves time, it never waits for it.
 */
import { PassThrough } from 'node:stream'
import t from 'tap'
import { CallerUpload } from '../../src/upstream/caller-upload.js'
import { ManualClock } from '../helpers/manual-clock.js'

const LIMITS = { bodyLimitBytes: 1_000_000, idleMs: 150, totalMs: 60_000, minBytesPerSecond: 0 }
/** Lets stream events run (no time passes on the manual clock). */
async function settle (): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve))
}

t.test('a body nobody reads yet (backpressure): the idle deadline does not fire, the total one does', async (t) => {
  const clock = new ManualClock()
  const incoming = new PassThrough()
  const upload = new CallerUpload(incoming, { ...LIMITS, totalMs: 900 }, clock)
  incoming.write(Buffer.alloc(200_000)) // far past the buffers: the pipe pauses the caller's side
  await settle()
  await clock.advance(500)
  t.equal(upload.failure(), undefined, 'paused for 500 ms > idleMs: not the caller\'s fault')
  t.equal(incoming.readableFlowing, false, 'the caller\'s side is paused by backpressure')
  await clock.advance(399)
  t.equal(upload.failure(), undefined, '1 ms before the total deadline')
  await clock.advance(1)
  t.match(upload.failure(), { code: 'BROKER_ERR_REQUEST_BODY_TIMEOUT', statusCode: 408, message: /not complete within 900 ms/ })
  t.ok(upload.stream.destroyed, 'what goes upstream is cut off')
  t.equal(clock.pendingTimers, 0, 'no deadline left behind')
})

t.test('a caller that stops sending while the broker reads: the idle deadline, counted from the last byte', async (t) => {
  const clock = new ManualClock()
  const incoming = new PassThrough()
  const upload = new CallerUpload(incoming, LIMITS, clock)
  upload.stream.resume()
  incoming.write('abc')
  await settle()
  await clock.advance(100)
  incoming.write('def')
  await settle()
  await clock.advance(100)
  t.equal(upload.failure(), undefined, '200 ms in, but the last byte came 100 ms ago: alive')
  await clock.advance(49)
  t.equal(upload.failure(), undefined, '149 ms since the last byte')
  await clock.advance(1)
  t.match(upload.failure(), { code: 'BROKER_ERR_REQUEST_BODY_TIMEOUT', message: /no byte received for 150 ms/ })
  t.equal(upload.bytes(), 6)
  t.equal(clock.pendingTimers, 0)
})

t.test('collect(): the whole body, or the deadline\'s error', async (t) => {
  const clock = new ManualClock()
  const fine = new PassThrough()
  const upload = new CallerUpload(fine, LIMITS, clock)
  fine.end('hello')
  t.equal((await upload.collect()).toString(), 'hello')
  t.equal(clock.pendingTimers, 0, 'an ended body has no deadline left')
  await clock.advance(250)
  t.equal(upload.failure(), undefined)

  const stalled = new PassThrough()
  const stuck = new CallerUpload(stalled, LIMITS, clock)
  stalled.write('he')
  const collected = t.rejects(stuck.collect(), { code: 'BROKER_ERR_REQUEST_BODY_TIMEOUT' })
  await settle()
  await clock.advance(150)
  await collected
})

t.test('the byte limit: 413, and it stays the failure', async (t) => {
  const clock = new ManualClock()
  const incoming = new PassThrough()
  const upload = new CallerUpload(incoming, { ...LIMITS, bodyLimitBytes: 4 }, clock)
  incoming.write('12345')
  await t.rejects(upload.collect(), { code: 'BROKER_ERR_BODY_TOO_LARGE', statusCode: 413 })
  t.equal(clock.pendingTimers, 0, 'the deadlines stop with the failure')
  await clock.advance(60_000)
  t.match(upload.failure(), { code: 'BROKER_ERR_BODY_TOO_LARGE' }, 'no later deadline replaces it')
})

t.test('the minimum rate: a trickle that beats the idle deadline is cut off at the end of a window below the rate', async (t) => {
  const clock = new ManualClock()
  const incoming = new PassThrough()
  // 1,000 bytes/s over 150 ms windows: at least 150 bytes a window.
  const upload = new CallerUpload(incoming, { ...LIMITS, minBytesPerSecond: 1_000 }, clock)
  upload.stream.resume()
  for (let step = 0; step < 3; step++) {
    incoming.write(Buffer.alloc(60))
    await settle()
    await clock.advance(50)
  }
  t.equal(upload.failure(), undefined, 'first window: 180 bytes, fast enough')
  incoming.write('a')
  await settle()
  await clock.advance(50)
  incoming.write('b')
  await settle()
  await clock.advance(50)
  incoming.write('c')
  await settle()
  await clock.advance(49)
  t.equal(upload.failure(), undefined, 'a byte every 50 ms: the idle deadline (150 ms) never fires')
  await clock.advance(1)
  t.match(upload.failure(), { code: 'BROKER_ERR_REQUEST_BODY_TIMEOUT', statusCode: 408, message: /slower than 1000 bytes per second over 150 ms/ })
  t.ok(upload.stream.destroyed, 'what goes upstream is cut off')
  t.equal(clock.pendingTimers, 0, 'no deadline left behind')
})

t.test('the minimum rate does not count a window in which the broker stopped reading (backpressure)', async (t) => {
  const clock = new ManualClock()
  const incoming = new PassThrough()
  // 1,000 bytes/s over 1 s windows; 10 bytes a window is far too slow, unless the broker was not reading.
  const upload = new CallerUpload(incoming, { ...LIMITS, idleMs: 1_000, minBytesPerSecond: 1_000 }, clock)
  upload.stream.resume()
  const write = async (advanceMs: number): Promise<void> => {
    incoming.write(Buffer.alloc(10))
    await settle()
    await clock.advance(advanceMs)
  }
  await write(200)
  incoming.pause()
  await clock.advance(200)
  incoming.resume()
  await write(600)
  t.equal(upload.failure(), undefined, 'first window: the broker paused in it, so it is not counted')
  await write(500)
  await write(499)
  t.equal(upload.failure(), undefined)
  await clock.advance(1)
  t.match(upload.failure(), { message: /slower than 1000 bytes per second over 1000 ms/ }, 'a window read all along is')
})
