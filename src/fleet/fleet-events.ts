/**
 * The fleet's event channel: one pub/sub channel per deployment (key prefix). Messages are small JSON objects naming
 * an integration and never a secret. Anyone who can PUBLISH on Redis can put a message here, so what the sidecars act
 * on is signed: `hold` and `drop` carry an HMAC under a key derived from the integration's credential version
 * (token-crypto.ts), a send time and a random id; a receiver checks the MAC with its own version's key, refuses a
 * message older or newer than EVENT_WINDOW_MS (fleet.ts refuses an id seen twice), and bounds what a valid one can
 * do (a hold lasts at most an hour). `credential` is only a hint to re-read the secret store now: the store is the
 * authority and the receiver acts only on what it reads there, so the hint needs no signature (the command line,
 * which announces rotations, may not hold the new version's key material at hand) and fleet.ts rate-limits it.
 */
import { randomUUID } from 'node:crypto'
import { sign, verify } from './token-crypto.js'

export type FleetEvent =
  | { type: 'hold', integration: string, holdMs: number }
  | { type: 'drop', integration: string }
  | { type: 'credential', integration: string, version: number }

export interface Envelope { event: FleetEvent, origin: string, id: string }

/** Why a message was ignored: a bounded set, a metric label. */
export type EventRejection = 'malformed' | 'unsigned' | 'bad-signature' | 'other-version' | 'stale'

const MAX_MESSAGE_CHARS = 1_024
/** Signed events older or newer than this (sender's clock against the receiver's) are refused: pods' clocks are
 * assumed within a minute of each other (NTP), and fleet.ts remembers ids for twice this long, so no replay works. */
export const EVENT_WINDOW_MS = 60_000
/** Atlassian's quota window is an hour (`w=3600`): no valid hold is longer, a signed one is clamped to it. */
export const MAX_EVENT_HOLD_MS = 3_600_000

/** What signing needs: the key of the version this sidecar uses, and the time. */
export interface Signer { version: number, key: Buffer, now: number }

/** `signer` for hold and drop (undefined: sent unsigned, receivers ignore it); credential events are never signed. */
export function encodeEvent (event: FleetEvent, origin: string, signer?: Signer): string {
  if (event.type === 'credential' || signer === undefined) return JSON.stringify({ p: JSON.stringify({ ...event, origin, id: randomUUID() }) })
  const payload = JSON.stringify({ ...event, origin, id: randomUUID(), version: signer.version, at: signer.now })
  return JSON.stringify({ p: payload, mac: sign(signer.key, payload) })
}

export interface EventCheck {
  known: Pick<ReadonlySet<string>, 'has'>
  /** The MAC key of this version of the integration's credential, when this sidecar holds that version. */
  keyFor: (integration: string, version: number) => Buffer | undefined
  now: number
}

export function decodeEvent (message: string, check: EventCheck): Envelope | EventRejection {
  if (message.length > MAX_MESSAGE_CHARS) return 'malformed'
  const outer = parseObject(message)
  if (outer === undefined || typeof outer.p !== 'string') return 'malformed'
  const raw = parseObject(outer.p)
  if (raw === undefined) return 'malformed'
  const { integration, origin, id } = raw
  if (typeof integration !== 'string' || !check.known.has(integration) || typeof origin !== 'string' || typeof id !== 'string') return 'malformed'
  if (raw.type === 'credential') {
    return Number.isInteger(raw.version) ? { event: { type: 'credential', integration, version: raw.version as number }, origin, id } : 'malformed'
  }
  if (raw.type !== 'hold' && raw.type !== 'drop') return 'malformed'
  if (outer.mac === undefined) return 'unsigned'
  if (!Number.isInteger(raw.version) || typeof raw.at !== 'number') return 'malformed'
  const key = check.keyFor(integration, raw.version as number)
  if (key === undefined) return 'other-version'
  if (!verify(key, outer.p, outer.mac)) return 'bad-signature'
  if (Math.abs(check.now - raw.at) > EVENT_WINDOW_MS) return 'stale'
  if (raw.type === 'drop') return { event: { type: 'drop', integration }, origin, id }
  const holdMs = raw.holdMs
  if (typeof holdMs !== 'number' || !Number.isFinite(holdMs) || holdMs <= 0) return 'malformed'
  return { event: { type: 'hold', integration, holdMs: Math.min(holdMs, MAX_EVENT_HOLD_MS) }, origin, id }
}

function parseObject (text: string): Record<string, unknown> | undefined {
  let value: unknown
  try { value = JSON.parse(text) } catch { return undefined }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : undefined
}
