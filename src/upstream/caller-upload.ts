/**
 * A caller's request body on its way upstream: a byte-limit guard (413), two deadlines and a minimum rate (408). A
 * caller trickling its upload (one byte every few seconds) would otherwise hold a broker request, an admission seat
 * and an upstream connection for as long as it likes.
 *
 * - idle: no byte for `idleMs` while the broker is ready to read. When the broker itself is not reading (backpressure:
 *   the upstream connection is not taking bytes yet) the caller is not the slow one and the clock starts again.
 * - total: the body is not complete `totalMs` after the broker started reading it.
 * - rate: fewer than `minBytesPerSecond` × `idleMs` / 1000 bytes came in an `idleMs` window during which the broker
 *   was ready to read all along (a window with backpressure is not counted). A byte every few seconds passes the idle
 *   deadline; this is what gives a stalled upload's seat (src/limits/seat-queue.ts) back to the callers waiting for it.
 *
 * Both deadlines run on the broker's one clock (src/clock.ts), so a test moves them by hand instead of waiting. The
 * idle deadline is one timer that, when due, looks at when the last byte came (a timer per chunk would cost more than
 * the chunk).
 *
 * The caller's socket is never destroyed here: the request fails with BROKER_ERR_REQUEST_BODY_TIMEOUT, and the error
 * handler answers 408 and closes the connection (the rest of the body is not read).
 */
import type { Readable } from 'node:stream'
import { Transform } from 'node:stream'
import { systemClock, type Clock, type TimerHandle } from '../clock.js'
import { BodyTooLargeError, RequestBodyTimeoutError } from '../errors.js'

export interface UploadLimits {
  bodyLimitBytes: number
  idleMs: number
  totalMs: number
  /** 0: no minimum rate. */
  minBytesPerSecond: number
}

export class CallerUpload {
  /** What goes upstream: the caller's bytes, cut off by an error at the limit or a deadline. */
  readonly stream: Transform
  #seen = 0
  #failure: Error | undefined
  #stopWatching: () => void = () => {}

  constructor (incoming: Readable, limits: UploadLimits, clock: Clock = systemClock) {
    this.stream = new Transform({
      transform: (chunk: Buffer, _encoding, callback) => {
        this.#seen += chunk.length
        if (this.#seen > limits.bodyLimitBytes) {
          callback(this.#fail(new BodyTooLargeError(limits.bodyLimitBytes)))
          return
        }
        callback(null, chunk)
      }
    })
    incoming.pipe(this.stream)
    incoming.on('error', (error) => this.stream.destroy(error))
    // Until undici takes the stream (after the token is fetched), nothing else listens on it: a caller breaking off
    // its upload, or the parser refusing its framing, must fail this request, not end the process with an uncaught
    // 'error'.
    this.stream.on('error', () => {})
    // After pipe(), so this listener does not start the flow before the guard is attached.
    this.#stopWatching = watchDeadlines(incoming, limits, clock, (error) => {
      incoming.unpipe(this.stream)
      this.stream.destroy(this.#fail(error))
    })
  }

  /** Bytes of the body received so far. */
  bytes (): number {
    return this.#seen
  }

  /** The limit or deadline that cut the body off, if one did: the request's answer, whatever undici made of it. */
  failure (): Error | undefined {
    return this.#failure
  }

  /** The whole body in memory (small bodies, kept so a 401 can be replayed). */
  async collect (): Promise<Buffer> {
    const chunks: Buffer[] = []
    try {
      for await (const chunk of this.stream) chunks.push(chunk as Buffer)
    } catch (error) {
      throw this.#failure ?? error
    }
    return Buffer.concat(chunks)
  }

  /** Stops the deadlines (the request ended some other way). */
  stop (): void {
    this.#stopWatching()
  }

  #fail (error: Error): Error {
    this.#failure ??= error
    this.#stopWatching()
    return this.#failure
  }
}

function watchDeadlines (
  incoming: Readable,
  limits: UploadLimits,
  clock: Clock,
  fail: (error: Error) => void
): () => void {
  if (incoming.readableEnded) return () => {}
  let lastByteAt = clock.now()
  let idle: TimerHandle
  const onIdle = (): void => {
    const quietMs = clock.now() - lastByteAt
    // Paused by backpressure, or bytes waiting to be read: the broker is the one not reading, so the wait starts again.
    if (incoming.readableFlowing !== true || incoming.readableLength > 0) {
      lastByteAt = clock.now()
      idle = clock.setTimer(onIdle, limits.idleMs)
      return
    }
    if (quietMs < limits.idleMs) {
      idle = clock.setTimer(onIdle, limits.idleMs - quietMs)
      return
    }
    stop()
    fail(new RequestBodyTimeoutError(`no byte received for ${limits.idleMs} ms`))
  }
  idle = clock.setTimer(onIdle, limits.idleMs)
  const total = clock.setTimer(() => {
    stop()
    fail(new RequestBodyTimeoutError(`the body was not complete within ${limits.totalMs} ms`))
  }, limits.totalMs)
  const windowMinBytes = Math.ceil(limits.minBytesPerSecond * limits.idleMs / 1000)
  let windowBytes = 0
  /** The broker stopped reading during this window (backpressure): the caller is not the slow one. */
  let windowPaused = false
  let rate: TimerHandle | undefined
  const onRateWindow = (): void => {
    const paused = windowPaused || incoming.readableFlowing !== true || incoming.readableLength > 0
    if (!paused && windowBytes < windowMinBytes) {
      stop()
      fail(new RequestBodyTimeoutError(`the body arrived slower than ${limits.minBytesPerSecond} bytes per second over ${limits.idleMs} ms`))
      return
    }
    windowBytes = 0
    windowPaused = false
    rate = clock.setTimer(onRateWindow, limits.idleMs)
  }
  if (windowMinBytes > 0) rate = clock.setTimer(onRateWindow, limits.idleMs)
  const onData = (chunk: Buffer): void => {
    lastByteAt = clock.now()
    windowBytes += chunk.length
  }
  const onPause = (): void => { windowPaused = true }
  function stop (): void {
    clock.clearTimer(idle)
    clock.clearTimer(total)
    if (rate !== undefined) clock.clearTimer(rate)
    incoming.off('pause', onPause)
    incoming.off('data', onData)
    incoming.off('end', stop)
    incoming.off('close', stop)
  }
  incoming.on('data', onData)
  incoming.on('pause', onPause)
  incoming.once('end', stop)
  incoming.once('close', stop)
  return stop
}
