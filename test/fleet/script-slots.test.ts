/**
 * Every Lua script and multi-key command the fleet sends stays in one Redis Cluster slot: every `eval` call site in
 * src/fleet is found in the source (a new one fails this test until it is listed here), a one-key script is one slot
 * by construction, and the keys of each multi-key call share one hash tag (Redis's rule: the text between the first
 * `{` and the next `}`). fleet-cluster.test.ts runs them all on a real cluster, where a cross-slot call is refused.
 */
import { readdirSync, readFileSync } from 'node:fs'
import t from 'tap'
import { FleetKeys } from '../../src/fleet/keys.js'

const FLEET = new URL('../../src/fleet/', import.meta.url)

/** The slot-deciding part of a key, as Redis Cluster computes it. */
function hashTag (key: string): string {
  const open = key.indexOf('{')
  const close = open === -1 ? -1 : key.indexOf('}', open + 1)
  return close > open + 1 ? key.slice(open + 1, close) : key
}

const keys = new FleetKeys('acme-prod')
const minute = Math.floor(Date.now() / 60_000)

/** The multi-key calls, by file and script (or command), with the keys they are given. */
const MULTI_KEY: Record<string, string[]> = {
  'fleet-usage-view.ts READ_HOUR': [keys.usageSince, ...Array.from({ length: 61 }, (_unused, back) => keys.usage(minute - back))],
  'shared-tokens.ts del': [keys.token('jira-main', 1), keys.token('jira-main', 2), keys.token('jira-main', 3)],
  'fleet-usage.ts multi': [keys.usage(minute), keys.usage(minute - 1), keys.usagePod('pod-a'), keys.usageSince]
}

t.test('every eval in src/fleet: one key, or keys of one hash tag', async (t) => {
  const sites: Array<{ site: string, numKeys: string }> = []
  for (const file of readdirSync(FLEET).filter((name) => name.endsWith('.ts'))) {
    const source = readFileSync(new URL(file, FLEET), 'utf8')
    for (const match of source.matchAll(/\.eval\(\s*([A-Z_]+)\s*,\s*([^,]+),/g)) {
      sites.push({ site: `${file} ${match[1]!}`, numKeys: match[2]!.trim() })
    }
  }
  t.ok(sites.length >= 8, `${sites.length} script call sites found`)
  for (const { site, numKeys } of sites) {
    if (numKeys === '1') { t.pass(`${site}: one key`); continue }
    t.ok(MULTI_KEY[site], `${site} passes ${numKeys} keys: list them in MULTI_KEY`)
  }
})

t.test('the keys of every multi-key call share one hash tag', async (t) => {
  for (const [site, list] of Object.entries(MULTI_KEY)) {
    t.equal(new Set(list.map(hashTag)).size, 1, `${site}: ${list.length} keys, one tag (${hashTag(list[0]!)})`)
  }
  const integration = [keys.token('wiki', 4), keys.exchangeLock('wiki'), keys.quotaHold('wiki'), keys.budget('wiki'), keys.points('wiki')]
  t.equal(new Set(integration.map(hashTag)).size, 1, 'one integration\'s keys share one tag')
  const rule = [keys.ruleLimit('rule-1', 'caller {x}'), keys.ruleSlots('rule-1', 'caller {x}'), keys.rulePoints('rule-1', 'caller {x}')]
  t.equal(new Set(rule.map(hashTag)).size, 1, 'a rule × caller\'s keys share one tag, even with braces in the caller\'s name')
  t.not(hashTag(keys.budget('jira')), hashTag(keys.budget('wiki')), 'integrations spread over the cluster')
})
