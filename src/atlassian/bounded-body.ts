/**
 * An answer's body read whole, up to a byte cap: past it the connection is dropped and the caller learns the body was
 * cut, so a huge answer (a 300 MB tenant_info, an error page) is never held. One reader for the site lookup, the
 * credential probe and the MCP tools; the fresh-token layer, which must hand the whole body on, reads only its head
 * (src/upstream/answer-head.ts).
 */
export type ReadableBody = AsyncIterable<Uint8Array> & { destroy: (error?: Error) => unknown }

export interface BoundedText {
  /** The body as UTF-8, at most `maxBytes` of it. */
  text: string
  /** True when the body was longer than `maxBytes`: the rest was not read. */
  truncated: boolean
}

export async function readBounded (body: ReadableBody, maxBytes: number): Promise<BoundedText> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    if (size + bytes.length > maxBytes) {
      chunks.push(bytes.subarray(0, maxBytes - size))
      body.destroy()
      return { text: Buffer.concat(chunks).toString('utf8'), truncated: true }
    }
    size += bytes.length
    chunks.push(bytes)
  }
  return { text: Buffer.concat(chunks).toString('utf8'), truncated: false }
}
