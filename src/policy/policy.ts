/**
 * The access policy, compiled once at load: deny by default; a call is allowed when some rule names its caller
 * (exact or glob), its integration (exact or glob), its method and a glob matching its path.
 * Lookups are indexed by exact caller and integration and memoized per (caller, integration, method), so the
 * per-request cost does not grow with the number of rules (bench scenario "scale of config").
 */
import { createHash } from 'node:crypto'
import { globToRegExp, isGlob } from './glob.js'

/**
 * A rule as compilePolicy reads it. config/schema.ts validates rules from the file (its PolicyRuleConfig fits this
 * shape); declared here so that policy/ does not import config/, which imports policy/'s HTTP methods.
 */
export interface PolicyRule {
  caller: string
  integration: string
  methods: readonly string[]
  paths: readonly string[]
  rateLimit?: { perSecond: number, burst?: number | undefined, scope: 'pod' | 'fleet' } | undefined
  maxConcurrent?: number | undefined
  maxConcurrentScope?: 'pod' | 'fleet' | undefined
  pointsPerHour?: number | undefined
}

export interface RateLimitRule { perSecond: number, burst: number, scope?: 'pod' | 'fleet' }

export interface CompiledRule {
  /** Position in the config's `policy` list, for messages and per-rule limits. */
  index: number
  caller: string
  integration: string
  methods: ReadonlySet<string>
  paths: readonly RegExp[]
  rateLimit: RateLimitRule | undefined
  maxConcurrent: number | undefined
  maxConcurrentScope?: 'pod' | 'fleet'
  /** Atlassian points per hour each matching caller may spend (admission.ts charges them after the answer). */
  pointsPerHour?: number | undefined
}

const ruleKeys = new WeakMap<CompiledRule, string>()

/**
 * A rule's identity for its limits: a hash of what it says, not of where it stands in the list. Rate buckets and
 * in-flight counts (local and fleet) are keyed by it, so a reload that keeps a rule keeps its buckets, and one that
 * changes it (a narrowed rateLimit) gives it fresh ones: buckets keyed by position outlived the narrowing (issue 24).
 */
export function ruleKey (rule: CompiledRule): string {
  let key = ruleKeys.get(rule)
  if (key === undefined) {
    const content = [
      rule.caller, rule.integration, [...rule.methods].sort(), rule.paths.map((path) => path.source),
      rule.rateLimit ?? null, rule.maxConcurrent ?? null, rule.maxConcurrentScope ?? null,
      // Only when set: the keys of rules without it stay what they were (their buckets in Redis survive an upgrade).
      ...(rule.pointsPerHour === undefined ? [] : [rule.pointsPerHour])
    ]
    key = createHash('sha256').update(JSON.stringify(content)).digest('base64url').slice(0, 16)
    ruleKeys.set(rule, key)
  }
  return key
}

const callerPatterns = new WeakMap<CompiledRule, RegExp>()

/** Whether the rule's caller (a name or a glob) names this caller; a glob is compiled once per rule. */
export function namesCaller (rule: CompiledRule, caller: string): boolean {
  if (rule.caller === caller) return true
  if (!isGlob(rule.caller)) return false
  let pattern = callerPatterns.get(rule)
  if (pattern === undefined) callerPatterns.set(rule, pattern = globToRegExp(rule.caller))
  return pattern.test(caller)
}

export type PolicyDecision =
  | { allowed: true, rule: CompiledRule }
  | { allowed: false, reason: string }

export interface Policy {
  readonly rules: readonly CompiledRule[]
  decide (caller: string, integration: string, method: string, path: string): PolicyDecision
  /** Callers named exactly by some rule: the bounded label set for metrics. */
  readonly knownCallers: ReadonlySet<string>
}

const MEMO_LIMIT = 50_000

export function compilePolicy (rules: readonly PolicyRule[]): Policy {
  const compiled: CompiledRule[] = rules.map((rule, index) => ({
    index,
    caller: rule.caller,
    integration: rule.integration,
    methods: new Set(rule.methods),
    paths: rule.paths.map(globToRegExp),
    rateLimit: rule.rateLimit
      ? {
          perSecond: rule.rateLimit.perSecond,
          burst: rule.rateLimit.burst ?? Math.max(1, Math.ceil(rule.rateLimit.perSecond)),
          scope: rule.rateLimit.scope
        }
      : undefined,
    maxConcurrent: rule.maxConcurrent,
    maxConcurrentScope: rule.maxConcurrentScope,
    pointsPerHour: rule.pointsPerHour
  }))

  // exact caller -> exact integration -> rules; glob rules are kept aside (few in practice) with their matchers
  const exact = new Map<string, Map<string, CompiledRule[]>>()
  const globbed: Array<{ rule: CompiledRule, caller: RegExp, integration: RegExp }> = []
  for (const rule of compiled) {
    if (isGlob(rule.caller) || isGlob(rule.integration)) {
      globbed.push({ rule, caller: globToRegExp(rule.caller), integration: globToRegExp(rule.integration) })
      continue
    }
    let byIntegration = exact.get(rule.caller)
    if (!byIntegration) exact.set(rule.caller, byIntegration = new Map())
    const list = byIntegration.get(rule.integration)
    if (list) list.push(rule)
    else byIntegration.set(rule.integration, [rule])
  }

  const memo = new Map<string, CompiledRule[]>()
  function candidates (caller: string, integration: string, method: string): CompiledRule[] {
    const key = `${caller}\u0000${integration}\u0000${method}`
    let found = memo.get(key)
    if (found) return found
    found = []
    for (const rule of exact.get(caller)?.get(integration) ?? []) {
      if (rule.methods.has(method) || rule.methods.has('*')) found.push(rule)
    }
    for (const { rule, caller: callerPattern, integration: integrationPattern } of globbed) {
      if ((rule.methods.has(method) || rule.methods.has('*')) && callerPattern.test(caller) && integrationPattern.test(integration)) found.push(rule)
    }
    found.sort((a, b) => a.index - b.index)
    if (memo.size >= MEMO_LIMIT) memo.clear()
    memo.set(key, found)
    return found
  }

  return {
    rules: compiled,
    knownCallers: new Set(compiled.filter((rule) => !isGlob(rule.caller)).map((rule) => rule.caller)),
    decide (caller, integration, method, path) {
      const rulesForCall = candidates(caller, integration, method)
      for (const rule of rulesForCall) {
        for (const pattern of rule.paths) {
          if (pattern.test(path)) return { allowed: true, rule }
        }
      }
      return {
        allowed: false,
        reason: rulesForCall.length === 0
          ? `${method} on integration "${integration}" for caller "${caller}"`
          : `${method} ${path} on integration "${integration}" for caller "${caller}" (no path rule matches)`
      }
    }
  }
}
