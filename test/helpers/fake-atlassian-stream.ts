/**
 * The download side of the big-body routes: `GET …/stream/{bytes}` sends a generated pattern chunk by chunk, waiting
 * for
 * `drain`, so the fake never holds more than one chunk and a slow reader slows the writer (backpressure).
 */
import { createHash } from 'node:crypto'
import type { ServerResponse } from 'node:http'

const PERIOD = 251
const CHUNK_BYTES = 64 * 1024
/** Byte `p` of every stream is `p % 251`: a prime period, so shifted or dropped chunks change the hash. */
const PATTERN = Buffer.from(Array.from({ length: CHUNK_BYTES + PERIOD }, (_, index) => index % PERIOD))

/** The `length` bytes (at most 64 KiB) a stream sends from `offset`. */
export function streamChunk (offset: number, length: number): Buffer {
  const start = offset % PERIOD
  return PATTERN.subarray(start, start + Math.min(length, CHUNK_BYTES))
}

/** sha256 (hex) of the first `bytes` bytes of the stream pattern, computed without materialising them. */
export function streamSha256 (bytes: number): string {
  const hash = createHash('sha256')
  for (let offset = 0; offset < bytes; offset += CHUNK_BYTES) hash.update(streamChunk(offset, bytes - offset))
  return hash.digest('hex')
}

export interface StreamOptions {
  /** End the connection after this many bytes, short of `Content-Length` (an upstream dying mid-body). */
  abortAfter?: number
  /** Stop sending after this many bytes and keep the connection open (an upstream stalling mid-body). */
  stallAfter?: number
}

function drained (res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done)
      res.off('close', done)
      resolve()
    }
    res.once('drain', done)
    res.once('close', done)
  })
}

export async function writeStream (res: ServerResponse, total: number, options: StreamOptions): Promise<void> {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total })
  const stopAt = Math.min(total, options.abortAfter ?? Infinity, options.stallAfter ?? Infinity)
  let sent = 0
  while (sent < stopAt && !res.destroyed) {
    const chunk = streamChunk(sent, stopAt - sent)
    sent += chunk.length
    if (!res.write(chunk)) await drained(res)
  }
  if (sent >= total) res.end()
  // end() on the socket flushes what was written, then closes: the client sees a body cut short of Content-Length.
  else if (options.abortAfter !== undefined && sent >= options.abortAfter) res.socket?.end()
}
