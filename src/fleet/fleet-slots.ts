/**
 * Fleet-wide `maxConcurrent` (`maxConcurrentScope: fleet`): calls in flight for a (rule, caller) on every sidecar, as
 * members of one sorted set scored by an expiry. A sidecar renews its members every 10 s, so a crashed sidecar's
 * calls stop counting within 30 s. This costs two round trips per call (take and release), which is why it is opt-in
 * per rule; when Redis cannot answer, take says so (undefined) and fleet-admission.ts counts the call in the local
 * backend instead: each call holds exactly one slot, in Redis or here.
 */
import { randomUUID } from 'node:crypto'
import type { Clock, TimerHandle } from '../clock.js'
import type { RedisLink } from './redis-link.js'

const SLOT_TTL_MS = 30_000
const RENEW_MS = 10_000
/** A set with more members than this is not one sidecars wrote (each admits up to the rule's limit): it is
 *  discarded whole (UNLINK frees it off the main thread) instead of being walked. */
const MAX_MEMBERS = 10_000
/** Drops expired members and members scored beyond the longest lease (a forged far-future score would hold a slot
 *  for ever), renews the set's TTL whatever the answer (a set written without one would otherwise live for ever),
 *  then adds one member if there is room. Redis's own clock decides expiry. ARGV: limit, lease ms, member, cap. */
const TAKE = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local lease = tonumber(ARGV[2])
if redis.call('ZCARD', KEYS[1]) > math.max(tonumber(ARGV[4]), tonumber(ARGV[1])) then redis.call('UNLINK', KEYS[1]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '(' .. (now + lease), '+inf')
local count = redis.call('ZCARD', KEYS[1])
if count > 0 then redis.call('PEXPIRE', KEYS[1], lease) end
if count >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
redis.call('PEXPIRE', KEYS[1], lease)
return 1
`
const RENEW = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
for i = 1, #ARGV do redis.call('ZADD', KEYS[1], 'XX', now + ${SLOT_TTL_MS}, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ${SLOT_TTL_MS})
return 1
`

export class FleetSlots {
  readonly #link: RedisLink
  /** Members this sidecar holds, per key, for the renewal. */
  readonly #held = new Map<string, Set<string>>()
  readonly #clock: Clock
  #timer: TimerHandle | undefined

  constructor (options: { link: RedisLink, clock: Clock }) {
    this.#link = options.link
    this.#clock = options.clock
  }

  /** A release function when admitted, false when the fleet is at the limit, undefined when Redis cannot answer. */
  async take (key: string, limit: number): Promise<(() => void) | false | undefined> {
    if (!this.#link.connected) return undefined
    const member = randomUUID()
    const answer = await this.#link.run((redis) => redis.eval(TAKE, 1, key, limit, SLOT_TTL_MS, member, MAX_MEMBERS))
    if (answer === 0) return false
    if (answer !== 1) return undefined
    let members = this.#held.get(key)
    if (members === undefined) { members = new Set(); this.#held.set(key, members) }
    members.add(member)
    this.#startRenewing()
    let released = false
    return () => {
      if (released) return
      released = true
      members.delete(member)
      if (members.size === 0) this.#held.delete(key)
      void this.#link.run((redis) => redis.zrem(key, member))
    }
  }

  stop (): void {
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer)
    this.#timer = undefined
  }

  /** Renews every RENEW_MS while this sidecar holds any member (the clock's timers are one-shot: re-armed). */
  #startRenewing (): void {
    if (this.#timer !== undefined) return
    this.#timer = this.#clock.setTimer(() => {
      this.#timer = undefined
      if (this.#held.size === 0) return
      for (const [key, members] of this.#held) void this.#link.run((redis) => redis.eval(RENEW, 1, key, ...members))
      this.#startRenewing()
    }, RENEW_MS)
  }
}
