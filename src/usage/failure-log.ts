/**
 * The failures of the last hour, for the ops page's "what fails": every answer with status 400 and above counted by
 * integration × status × error code (the broker's stable code, or none for an answer Atlassian gave), and the latest
 * few kept whole so their log lines can be found by request id. Fed once per call from Usage.record with the call's
 * bounded labels. A failure holds ids, names, numbers and a code only: never a header, path, body or token.
 */
import type { Clock } from '../clock.js'
import type { ProxiedCall } from './proxied-call.js'
import { MinuteCounts } from './minute-counts.js'
import { compareLabels } from './tally-cell.js'

/** Enough to find the lines of a burst of failures; the counts hold the rest. */
export const DEFAULT_RECENT_FAILURES = 50

export interface RecentFailure {
  requestId: string
  /** When the call ended, ISO 8601 (UTC). */
  at: string
  caller: string
  integration: string
  statusCode: number
  /** The broker's stable code when it answered itself; null for an answer passed through from Atlassian. */
  code: string | null
  upstreamStatus: number | null
}

export interface FailureCount { integration: string, statusCode: number, code: string | null, count: number }

const SEP = '\u0000'

export class FailureLog {
  readonly #recent: Array<RecentFailure | undefined>
  #next = 0
  readonly #counts: MinuteCounts

  constructor (options: { clock: Clock, recent?: number }) {
    this.#recent = new Array<RecentFailure | undefined>(options.recent ?? DEFAULT_RECENT_FAILURES)
    this.#counts = new MinuteCounts(options.clock)
  }

  /** One call under its bounded labels; calls below 400 are not failures and leave at once. */
  record (caller: string, integration: string, call: Pick<ProxiedCall, 'requestId' | 'statusCode' | 'errorCode' | 'upstreamStatus' | 'at'>): void {
    if (call.statusCode < 400) return
    const code = call.errorCode ?? null
    this.#counts.add([integration, String(call.statusCode), code ?? ''].join(SEP))
    this.#recent[this.#next] = {
      // Fastify's request id: the broker's own (or a bounded header value, see app.ts), the `reqId` of the log line.
      requestId: call.requestId.slice(0, 128),
      at: new Date(call.at).toISOString(),
      caller,
      integration,
      statusCode: call.statusCode,
      code,
      upstreamStatus: call.upstreamStatus ?? null
    }
    this.#next = (this.#next + 1) % this.#recent.length
  }

  /** The latest failures, newest first. */
  recent (): RecentFailure[] {
    const size = this.#recent.length
    const newestFirst: RecentFailure[] = []
    for (let back = 1; back <= size; back++) {
      const entry = this.#recent[(this.#next - back + size) % size]
      if (entry !== undefined) newestFirst.push(entry)
    }
    return newestFirst
  }

  /** The last hour's failures by integration × status × code, most first. */
  lastHour (): FailureCount[] {
    return [...this.#counts.lastHour()].map(([key, count]): FailureCount => {
      const [integration = '', status = '0', code = ''] = key.split(SEP)
      return { integration, statusCode: Number(status), code: code === '' ? null : code, count }
    }).sort((a, b) => b.count - a.count || compareLabels(a.integration, b.integration) || a.statusCode - b.statusCode ||
      compareLabels(a.code ?? '', b.code ?? ''))
  }
}
