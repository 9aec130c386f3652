/** Small helpers the commands share: reading stdin, durations, and the exit-with-message convention. */

export class UsageError extends Error {}

export async function readStdin (stdin: NodeJS.ReadableStream = process.stdin): Promise<string> {
  if ((stdin as NodeJS.ReadStream).isTTY) process.stderr.write('Reading the credential JSON from stdin; end with Ctrl-D.\n')
  const chunks: Buffer[] = []
  for await (const chunk of stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string))
  return Buffer.concat(chunks).toString('utf8')
}

/** "90s", "15m", "1h", "7d" or plain seconds. */
export function parseDuration (text: string): number {
  const match = /^(\d+)\s*([smhd]?)$/.exec(text.trim())
  if (!match) throw new UsageError(`cannot read duration "${text}"; use e.g. 30m, 1h, 7d`)
  const unit = { '': 1, s: 1, m: 60, h: 3_600, d: 86_400 }[match[2] as '' | 's' | 'm' | 'h' | 'd']
  return Number(match[1]) * unit
}

/** Parses JSON from stdin without ever echoing it back in an error (it holds a secret). */
export function parseCredentialJson (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    throw new UsageError('stdin is not valid JSON; expected {"client_id": "...", "client_secret": "..."} or {"token": "..."}')
  }
}

export function printTable (
  rows: Array<Record<string, string | number | undefined>>,
  out: NodeJS.WritableStream = process.stdout
): void {
  if (rows.length === 0) return
  const columns = Object.keys(rows[0] as object)
  const widths = columns.map((column) =>
    Math.max(column.length, ...rows.map((row) => String(row[column] ?? '-').length))
  )
  const line = (cells: string[]): string =>
    cells
      .map((cell, index) => cell.padEnd(widths[index] ?? 0))
      .join('  ')
      .trimEnd()
  out.write(`${line(columns.map((column) => column.toUpperCase()))}\n`)
  for (const row of rows) out.write(`${line(columns.map((column) => String(row[column] ?? '-')))}\n`)
}

/**
 * `atlassian-broker secrets history NAME | head`: once the reader has closed the pipe, writing to stdout fails with
 * EPIPE, which without a listener is an uncaught exception and a stack trace. The answer is no longer wanted, so the
 * command stops quietly with exit code 0, as a reader that stops early expects.
 */
export function endQuietlyOnClosedStdout (stdout: NodeJS.WriteStream = process.stdout): void {
  stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error
    process.exit(0)
  })
}

/**
 * `init | head -1`: init's work does not depend on anyone reading its output, so a reader that goes away neither stops
 * it half-way nor turns its exit code into a lie (issue 24 §5: it exited 0 with nothing stored). The rest of the output
 * is dropped; the credential and config are still written and the exit code says whether they were.
 */
export function ignoreClosedStdout (stdout: NodeJS.WriteStream = process.stdout): void {
  stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error
  })
}
