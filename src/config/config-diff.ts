/**
 * What a reload changes, in words an operator can act on: integrations added, removed or changed, and policy rules
 * added, removed, widened or narrowed, each rule quoted. A line such as "policy: 3 → 3 rules" hid a widened rule
 * (issue 24), so a rule is compared by what it allows, not counted.
 */
import type { IntegrationConfig, PolicyRuleConfig } from './schema.js'

interface Side {
  integrations: Readonly<Record<string, IntegrationConfig>>
  policy: readonly PolicyRuleConfig[]
}

export function describeChanges (before: Side, after: Side): string[] {
  const changes: string[] = []
  for (const name of Object.keys(after.integrations)) {
    if (!Object.hasOwn(before.integrations, name)) changes.push(`integration ${name} added`)
    else if (JSON.stringify(before.integrations[name]) !== JSON.stringify(after.integrations[name])) changes.push(`integration ${name} changed`)
  }
  for (const name of Object.keys(before.integrations)) {
    if (!Object.hasOwn(after.integrations, name)) changes.push(`integration ${name} removed`)
  }
  return [...changes, ...describePolicyChanges(before.policy, after.policy)]
}

/** Rules present on one side only, paired by caller and integration where possible: a pair is a rule widened,
 *  narrowed or changed; the rest are added or removed. Reordering alone changes nothing a call can do. */
export function describePolicyChanges (
  before: readonly PolicyRuleConfig[],
  after: readonly PolicyRuleConfig[]
): string[] {
  const removed = onlyIn(before, after)
  const added = onlyIn(after, before)
  const changes: string[] = []
  for (const rule of added) {
    const index = removed.findIndex((old) => old.caller === rule.caller && old.integration === rule.integration)
    if (index === -1) {
      changes.push(`rule added: ${quote(rule)}`)
      continue
    }
    const [old] = removed.splice(index, 1) as [PolicyRuleConfig]
    const wider = allowsAtLeast(rule, old)
    const narrower = allowsAtLeast(old, rule)
    changes.push(`rule ${wider && !narrower ? 'widened' : narrower && !wider ? 'narrowed' : 'changed'}: ${quote(old)} → ${quote(rule)}`)
  }
  for (const rule of removed) changes.push(`rule removed: ${quote(rule)}`)
  return changes
}

function onlyIn (rules: readonly PolicyRuleConfig[], other: readonly PolicyRuleConfig[]): PolicyRuleConfig[] {
  const keys = new Set(other.map(canonical))
  return rules.filter((rule) => !keys.has(canonical(rule)))
}

function canonical (rule: PolicyRuleConfig): string {
  return JSON.stringify([
    rule.caller, rule.integration, [...rule.methods].sort(), [...rule.paths].sort(),
    rule.rateLimit ?? null, rule.maxConcurrent ?? null, rule.maxConcurrentScope ?? null
  ])
}

/** True when `rule` allows everything `than` does: its methods and paths include the other's (as written) and its
 *  limits are no tighter. */
function allowsAtLeast (rule: PolicyRuleConfig, than: PolicyRuleConfig): boolean {
  const methods = rule.methods.includes('*') || than.methods.every((method) => rule.methods.includes(method))
  const paths = rule.paths.includes('/**') || than.paths.every((path) => rule.paths.includes(path))
  const rate = rule.rateLimit === undefined ||
    (than.rateLimit !== undefined && rule.rateLimit.perSecond >= than.rateLimit.perSecond &&
      (rule.rateLimit.burst ?? 0) >= (than.rateLimit.burst ?? 0))
  const slots = rule.maxConcurrent === undefined ||
    (than.maxConcurrent !== undefined && rule.maxConcurrent >= than.maxConcurrent)
  return methods && paths && rate && slots
}

/** A rule as one line: caller, integration, methods, paths, limits (names and globs from the file, never a secret). */
export function quote (rule: PolicyRuleConfig): string {
  const limits = [
    rule.rateLimit === undefined ? '' : ` rateLimit ${rule.rateLimit.perSecond}/s burst ${rule.rateLimit.burst ?? 'default'} (${rule.rateLimit.scope})`,
    rule.maxConcurrent === undefined ? '' : ` maxConcurrent ${rule.maxConcurrent}`
  ].join('')
  return `${rule.caller} → ${rule.integration} ${rule.methods.join(',')} ${rule.paths.join(' ')}${limits}`
}
