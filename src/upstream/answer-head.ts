/**
 * Reads the start of an upstream answer's body without losing it: the fresh-token layer must see a 401's body to tell
 * a scope refusal from a revoked token (atlassian/scope-mismatch.ts), and the caller must still get the whole original
 * body. At most `limitBytes` are held (an answer bigger than that keeps streaming after the held start), so a large
 * error page is never buffered whole (docs/style.md, "Proxying").
 */
import { PassThrough, pipeline, Readable } from 'node:stream'

export interface AnswerHead {
  /** The first bytes (up to the limit, or all of a shorter body) as UTF-8 text. */
  head: string
  /** The whole body again, from its first byte: hand this on instead of the original. */
  body: Readable
}

export async function readAnswerHead (body: Readable, limitBytes: number): Promise<AnswerHead> {
  const chunks: Buffer[] = []
  let size = 0
  const ended = await new Promise<boolean>((resolve, reject) => {
    const stop = (): void => {
      body.off('data', onData)
      body.off('end', onEnd)
      body.off('error', onError)
    }
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk)
      size += chunk.length
      if (size < limitBytes) return
      stop()
      body.pause()
      resolve(false)
    }
    const onEnd = (): void => { stop(); resolve(true) }
    const onError = (error: Error): void => { stop(); reject(error) }
    body.on('data', onData)
    body.once('end', onEnd)
    body.once('error', onError)
  })
  const start = Buffer.concat(chunks)
  const head = start.subarray(0, limitBytes).toString('utf8')
  if (ended) return { head, body: Readable.from(start.length === 0 ? [] : [start]) }
  // The held start first, then the rest as it comes; an error or a destroy on either side reaches the other.
  const whole = new PassThrough()
  whole.write(start)
  pipeline(body, whole, () => {})
  return { head, body: whole }
}
