/**
 * The caller's body as it goes upstream: small ones buffered, so a 401 can be replayed with a fresh token
 * (fresh-token-layer.ts); the rest streamed through caller-upload.ts's size limit and idle/total deadlines.
 */
import type { IncomingMessage } from 'node:http'
import type { Readable } from 'node:stream'
import type { Clock } from '../clock.js'
import { BodyTooLargeError } from '../errors.js'
import { CallerUpload } from './caller-upload.js'

export interface PreparedBody {
  replayable: boolean
  length: number | undefined
  take: () => Buffer | Readable | undefined
  bytesSent: () => number
  /** The caller-side limit or deadline that cut the body off: the request's answer. */
  failure: () => Error | undefined
}

export interface BodyLimits {
  bodyLimitBytes: number
  replayBufferBytes: number
  /** The caller's upload fails with 408 after this long without a byte, or this long in all. */
  requestBodyIdleMs: number
  requestBodyTotalMs: number
  /** ...or slower than this (bytes per second) over a `requestBodyIdleMs` window; 0 or absent = no minimum. */
  minUploadBytesPerSecond?: number | undefined
}

const NO_BODY_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'DELETE'])

export async function prepareBody (
  incoming: IncomingMessage,
  method: string,
  limits: BodyLimits,
  clock: Clock
): Promise<PreparedBody> {
  const declared =
    incoming.headers['content-length'] === undefined ? undefined : Number(incoming.headers['content-length'])
  const chunked = incoming.headers['transfer-encoding'] !== undefined
  const limit = limits.bodyLimitBytes
  if (declared !== undefined && declared > limit) throw new BodyTooLargeError(limit)
  if (!chunked && (declared === undefined || declared === 0)) {
    return staticBody(
      NO_BODY_METHODS.has(method) ? undefined : Buffer.alloc(0),
      declared === 0 && !NO_BODY_METHODS.has(method)
    )
  }
  const upload = new CallerUpload(incoming, {
    bodyLimitBytes: limit,
    idleMs: limits.requestBodyIdleMs,
    totalMs: limits.requestBodyTotalMs,
    minBytesPerSecond: limits.minUploadBytesPerSecond ?? 0
  }, clock)
  if (declared !== undefined && declared <= limits.replayBufferBytes) {
    return staticBody(await upload.collect(), true)
  }
  let taken = false
  return {
    replayable: false,
    length: declared,
    take: () => {
      if (taken) throw new Error('a streamed body cannot be sent twice')
      taken = true
      return upload.stream
    },
    bytesSent: () => upload.bytes(),
    failure: () => upload.failure()
  }
}

function staticBody (buffer: Buffer | undefined, sendEmpty: boolean): PreparedBody {
  const payload = buffer !== undefined && (buffer.length > 0 || sendEmpty) ? buffer : undefined
  return {
    replayable: true,
    length: payload?.length,
    take: () => payload,
    bytesSent: () => payload?.length ?? 0,
    failure: () => undefined
  }
}
