/**
 * The seat queues (src/limits/seat-queue.ts) in bounded labels, for the queue-depth gauge and the ops page: callers
 * not named by policy merge into `other`, so a row per label, with depths and seats summed and the longest wait kept.
 */
import type { QueueRow } from '../limits/seat-queue.js'
import type { Labels } from './labels.js'
import { compareLabels } from './tally-cell.js'

export function labelledQueueRows (rows: readonly QueueRow[], labels: Labels): QueueRow[] {
  const merged = new Map<string, QueueRow>()
  for (const row of rows) {
    const caller = labels.caller(row.caller)
    const integration = labels.integration(row.integration)
    const key = `${integration}\u0000${caller}`
    const seen = merged.get(key)
    if (seen === undefined) {
      merged.set(key, { ...row, caller, integration })
      continue
    }
    seen.depth += row.depth
    seen.seatsInUse += row.seatsInUse
    seen.oldestWaitMs = Math.max(seen.oldestWaitMs, row.oldestWaitMs)
  }
  const labelled = [...merged.values()]
  return labelled.sort((a, b) => compareLabels(a.integration, b.integration) || compareLabels(a.caller, b.caller))
}
