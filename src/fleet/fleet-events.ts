/**
 * The fleet's event channel: one pub/sub channel per deployment (key prefix). Messages are small JSON objects naming
 * an integration and never a secret; what arrives is untrusted (another deployment, a hand-typed PUBLISH), so each
 * message is checked field by field and anything unexpected is ignored.
 */
export type FleetEvent =
  | { type: 'hold', integration: string, holdMs: number }
  | { type: 'drop', integration: string }
  | { type: 'credential', integration: string, version: number }

interface Envelope { event: FleetEvent, origin: string }

const MAX_MESSAGE_CHARS = 1_024

export function encodeEvent (event: FleetEvent, origin: string): string {
  return JSON.stringify({ ...event, origin })
}

export function decodeEvent (message: string, known: Pick<ReadonlySet<string>, 'has'>): Envelope | undefined {
  if (message.length > MAX_MESSAGE_CHARS) return undefined
  let value: unknown
  try { value = JSON.parse(message) } catch { return undefined }
  if (typeof value !== 'object' || value === null) return undefined
  const raw = value as Record<string, unknown>
  const integration = raw.integration
  if (typeof integration !== 'string' || !known.has(integration) || typeof raw.origin !== 'string') return undefined
  const origin = raw.origin
  switch (raw.type) {
    case 'hold':
      return typeof raw.holdMs === 'number' && Number.isFinite(raw.holdMs) ? { event: { type: 'hold', integration, holdMs: raw.holdMs }, origin } : undefined
    case 'drop':
      return { event: { type: 'drop', integration }, origin }
    case 'credential':
      return Number.isInteger(raw.version) ? { event: { type: 'credential', integration, version: raw.version as number }, origin } : undefined
    default:
      return undefined
  }
}
