/**
 * caller-upload.ts on its own: the idle deadline counts only while the broker is ready to read (backpressure from a
 * busy upstream is not the caller's slowness), the total deadline always; the byte limit; the first failure is kept.
 * The deadlines run on a ManualClock: the test moves time, it never waits for it.
 */
import { PassThrough } from 'node:stream'
import t from 'tap'
import { CallerUpload } from '../../src/upstream/caller-upload.js'
import { ManualClock } from '../helpers/manual-clock.js'

const LIMITS = { bodyLimitBytes: 1_000_000, idleMs: 150, totalMs: 60_000 }
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
