/**
 * HTTP/1.1 at the byte level, for the shapes no client library will send: smuggling framings, obs-fold, bare CR or LF,
 * absolute-form targets, truncated uploads. `rawHttp` writes the bytes as given and reads the first response back.
 */
import net from 'node:net'

export interface RawResponse {
  /** 0 when the connection closed without an answer. */
  status: number
  headers: Record<string, string>
  body: string
  /** Everything read, as latin1 text. */
  raw: string
}

/** Writes `bytes` to the server at `url` and resolves with the first response (or what arrived before `waitMs`). */
export function rawHttp (url: string, bytes: string | Buffer, options: { waitMs?: number } = {}): Promise<RawResponse> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname)
    let raw = ''
    let settled = false
    const finish = (): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resolve(parseResponse(raw))
    }
    const timer = setTimeout(finish, options.waitMs ?? 3_000)
    socket.on('data', (chunk: Buffer) => {
      raw += chunk.toString('latin1')
      const parsed = parseResponse(raw)
      if (parsed.status !== 0 && complete(parsed)) finish()
    })
    socket.on('error', finish)
    socket.on('close', finish)
    socket.write(bytes)
  })
}

function complete (response: RawResponse): boolean {
  const length = response.headers['content-length']
  return length !== undefined && Buffer.byteLength(response.body, 'latin1') >= Number(length)
}

export function parseResponse (raw: string): RawResponse {
  const end = raw.indexOf('\r\n\r\n')
  if (end === -1) return { status: 0, headers: {}, body: '', raw }
  const [statusLine = '', ...lines] = raw.slice(0, end).split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  return { status: Number(statusLine.split(' ')[1] ?? 0), headers, body: raw.slice(end + 4), raw }
}

/** A request head with CRLF line ends; `lines` are header lines written exactly as given. */
export function head (requestLine: string, lines: string[]): string {
  return `${requestLine}\r\n${lines.join('\r\n')}\r\n\r\n`
}
