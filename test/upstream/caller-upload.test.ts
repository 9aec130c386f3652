/**
 * caller-upload.ts on its own: the idle deadline counts only while the broker is ready to read (backpressure from a
 * busy upstream is not the caller's slowness), the total deadline always; the byte limit; the first failure is kept.
 */
import { PassThrough } from 'node:stream'
import t from 'tap'
import { CallerUpload } from '../../src/upstream/caller-upload.js'

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))
const LIMITS = { bodyLimitBytes: 1_000_000, idleMs: 150, totalMs: 60_000 }
// The deadlines' timers are unref'd (a server's sockets keep the process alive); here nothing else would.
const alive = setInterval(() => {}, 1_000)
t.teardown(() => clearInterval(alive))

t.test('a body nobody reads yet (backpressure): the idle deadline does not fire, the total one does', async (t) => {
  const incoming = new PassThrough()
  const upload = new CallerUpload(incoming, { ...LIMITS, totalMs: 900 })
  incoming.write(Buffer.alloc(200_000))  // far past the buffers: the pipe pauses the caller's side
  await sleep(500)
  t.equal(upload.failure(), undefined, 'paused for 500 ms > idleMs: not the caller\'s fault')
  t.equal(incoming.readableFlowing, false, 'the caller\'s side is paused by backpressure')
  await sleep(700)
  t.match(upload.failure(), { code: 'BROKER_ERR_REQUEST_BODY_TIMEOUT', statusCode: 408, message: /not complete within 900 ms/ })
  t.ok(upload.stream.destroyed, 'what goes upstream is cut off')
})

t.test('a caller that stops sending while the broker reads: the idle deadline', async (t) => {
  const incoming = new PassThrough()
  const upload = new CallerUpload(incoming, LIMITS)
  upload.stream.resume()
  incoming.write('abc')
  await sleep(60)
  incoming.write('def')
  await sleep(60)
  t.equal(upload.failure(), undefined, 'bytes keep arriving: alive')
  await sleep(400)
  t.match(upload.failure(), { code: 'BROKER_ERR_REQUEST_BODY_TIMEOUT', message: /no byte received for 150 ms/ })
  t.equal(upload.bytes(), 6)
})

t.test('collect(): the whole body, or the deadline\'s error', async (t) => {
  const fine = new PassThrough()
  const upload = new CallerUpload(fine, LIMITS)
  fine.end('hello')
  t.equal((await upload.collect()).toString(), 'hello')
  await sleep(250)
  t.equal(upload.failure(), undefined, 'an ended body has no deadline left')

  const stalled = new PassThrough()
  const stuck = new CallerUpload(stalled, LIMITS)
  stalled.write('he')
  await t.rejects(stuck.collect(), { code: 'BROKER_ERR_REQUEST_BODY_TIMEOUT' })
})

t.test('the byte limit: 413, and it stays the failure', async (t) => {
  const incoming = new PassThrough()
  const upload = new CallerUpload(incoming, { ...LIMITS, bodyLimitBytes: 4 })
  incoming.write('12345')
  await t.rejects(upload.collect(), { code: 'BROKER_ERR_BODY_TOO_LARGE', statusCode: 413 })
  await sleep(250)
  t.match(upload.failure(), { code: 'BROKER_ERR_BODY_TOO_LARGE' }, 'no later deadline replaces it')
})
