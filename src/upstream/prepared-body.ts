/**
 * The caller's body as it goes upstream: small ones buffered, so a 401 can be replayed with a fresh token
 * (fresh-token-layer.ts); the rest streamed through caller-upload.ts's size limit and idle/total deadlines.
 * A GET or HEAD carrying a body is refused before anything else happens (refuseBodyOn, issue 24 §6).
 */
import type { IncomingHttpHeaders } from 'node:http'
import type { Readable } from 'node:stream'
import type { Clock } from '../clock.js'
import { BadRequestError, BodyTooLargeError } from '../errors.js'
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

/**
 * Content in a GET or HEAD "has no generally defined semantics, cannot alter the meaning or target of the request, and
 * might lead some implementations to reject the request and close the connection because of its potential as a request
 * smuggling attack" (RFC 9110 sections 9.3.1, 9.3.2). Forwarding it (with its Content-Length) invited exactly that, and
 * dropping it would silently answer a different question than the caller asked (a JQL sent in a GET body would search
 * everything), so it is refused. DELETE and OPTIONS bodies pass: Jira's bulk delete of worklogs takes one.
 */
const BODILESS_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD'])

/** Throws 400 BROKER_ERR_BAD_REQUEST when a GET or HEAD carries content (a length above 0, or any Transfer-Encoding,
 *  RFC 9112 section 6.3). Called by the proxy route before admission, so a refused call costs no rate-limit token. */
export function refuseBodyOn (method: string, headers: IncomingHttpHeaders): void {
  if (!BODILESS_METHODS.has(method)) return
  const declared = headers['content-length']
  if (headers['transfer-encoding'] === undefined && (declared === undefined || Number(declared) === 0)) return
  throw new BadRequestError(
    `a ${method} request carries no body (RFC 9110 section 9.3): put the parameters in the query string, or use the ` +
      'POST form Atlassian offers (POST /rest/api/3/search/jql)'
  )
}

/** A promise only when a small body must be read first: a call without one (every GET) is prepared at once. */
export function prepareBody (
  incoming: Readable & { headers: IncomingHttpHeaders },
  method: string,
  limits: BodyLimits,
  clock: Clock
): PreparedBody | Promise<PreparedBody> {
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
    return upload.collect().then((buffer) => staticBody(buffer, true))
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

/** Nothing to send: one object for every such call. */
const NO_BODY: PreparedBody = Object.freeze({
  replayable: true,
  length: undefined,
  take: () => undefined,
  bytesSent: () => 0,
  failure: () => undefined
})

function staticBody (buffer: Buffer | undefined, sendEmpty: boolean): PreparedBody {
  const payload = buffer !== undefined && (buffer.length > 0 || sendEmpty) ? buffer : undefined
  if (payload === undefined) return NO_BODY
  return {
    replayable: true,
    length: payload.length,
    take: () => payload,
    bytesSent: () => payload.length,
    failure: () => undefined
  }
}
