/**
 * The broker configurations the bench runs, and the traffic sent to them.
 * - small: 4 integrations and a policy of a few dozen rules (what one team's sidecar holds);
 * - large: 1,000 integrations and 10,000 rules (scale of config: per-request cost must not grow with it).
 * Callers authenticate with HS256 JWTs (the broker's default key source), one token per caller, as jobs do.
 */
import { createSigner } from 'fast-jwt'
import type { ConfigInput } from '../src/config/schema.js'

export type ConfigKind = 'small' | 'large'

export const CALLER_SECRET = 'bench-caller-hs256-secret-0123456789-abcdefghijkl'
/** 32 raw bytes as hex: no scrypt at start-up. */
export const MASTER_KEY = '6a1f0c9e3b7d52a8e4c1f0b9a7d6e5c4b3a29180f7e6d5c4b3a2918070605040'
export const STREAM_CALLER = 'stream-job'
export const STREAM_INTEGRATION = 'jira-main'

export interface Call { caller: string, integration: string, path: string }

function cloudId (n: number): string {
  return `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`
}

const pad = (n: number): string => String(n).padStart(4, '0')

const JIRA_READ = ['/rest/api/3/issue/*', '/rest/api/3/search/**', '/rest/api/3/project/*']
const JIRA_WRITE = ['/rest/api/3/issue', '/rest/api/3/issue/*/comment']
const WIKI_READ = ['/wiki/api/v2/pages/*', '/wiki/rest/api/content/**']

const SMALL_INTEGRATIONS = { 'jira-main': 'jira', 'jira-ops': 'jira', 'wiki-main': 'confluence', 'wiki-docs': 'confluence' } as const
const SMALL_CALLERS = ['report-job', 'sync-job', 'triage-bot', 'release-job', 'docs-publisher', 'audit-job', 'backup-job', 'metrics-job']

function smallConfig (): Pick<ConfigInput, 'integrations' | 'policy'> {
  const integrations: NonNullable<ConfigInput['integrations']> = {}
  Object.entries(SMALL_INTEGRATIONS).forEach(([name, product], index) => { integrations[name] = { product, cloudId: cloudId(index + 1), credential: 'oauth' } })
  const policy: NonNullable<ConfigInput['policy']> = []
  for (const caller of SMALL_CALLERS) {
    for (const [integration, product] of Object.entries(SMALL_INTEGRATIONS)) {
      policy.push(product === 'jira'
        ? { caller, integration, methods: ['GET', 'POST'], paths: [...JIRA_READ, ...JIRA_WRITE] }
        : { caller, integration, methods: ['GET'], paths: WIKI_READ })
    }
  }
  policy.push({ caller: 'ops-*', integration: '*', methods: ['GET'], paths: ['/rest/api/3/serverInfo'] })
  policy.push({ caller: STREAM_CALLER, integration: STREAM_INTEGRATION, methods: ['GET', 'POST'], paths: ['/bench/**'] })
  return { integrations, policy }
}

const LARGE_INTEGRATIONS = 1_000
const LARGE_RULES = 10_000
const LARGE_GLOB_RULES = 20
const LARGE_CALLERS = 400

function largeProduct (integration: number): 'jira' | 'confluence' {
  return integration % 2 === 0 ? 'jira' : 'confluence'
}

/** Rule i names caller job-(i mod 400) and integration int-(i div 10): every (caller, integration) pair distinct. */
function largeRule (index: number): { caller: string, integration: number } {
  return { caller: `job-${String(index % LARGE_CALLERS).padStart(3, '0')}`, integration: Math.floor(index / 10) }
}

function largeConfig (): Pick<ConfigInput, 'integrations' | 'policy'> {
  const integrations: NonNullable<ConfigInput['integrations']> = {}
  for (let n = 0; n < LARGE_INTEGRATIONS; n++) integrations[`int-${pad(n)}`] = { product: largeProduct(n), cloudId: cloudId(n + 1), credential: 'oauth' }
  const policy: NonNullable<ConfigInput['policy']> = []
  for (let index = 0; index < LARGE_RULES - LARGE_GLOB_RULES; index++) {
    const { caller, integration } = largeRule(index)
    const jira = largeProduct(integration) === 'jira'
    policy.push({ caller, integration: `int-${pad(integration)}`, methods: jira ? ['GET', 'POST'] : ['GET'], paths: jira ? [...JIRA_READ, ...JIRA_WRITE] : WIKI_READ })
  }
  for (let index = 0; index < LARGE_GLOB_RULES; index++) {
    policy.push({ caller: `team-${index}-*`, integration: `int-0${index % 10}*`, methods: ['GET'], paths: ['/rest/api/3/serverInfo'] })
  }
  return { integrations, policy }
}

/** The hot-path scenario: one caller, one path, one integration, 41 rules (40 for other callers, then its own). */
export const HOT_CALLER = 'report-job'
export const HOT_INTEGRATION = 'jira-main'
export const HOT_PATH = `/proxy/${HOT_INTEGRATION}/rest/api/3/issue/DEMO-1`

export function hotPathConfigInput (
  options: { upstreamUrl: string, dataDir: string, port: number }
): ConfigInput & { listen: { host: string, port: number } } {
  const policy: NonNullable<ConfigInput['policy']> = []
  for (let n = 0; n < 40; n++) policy.push({ caller: `job-${pad(n)}`, integration: HOT_INTEGRATION, methods: ['GET'], paths: JIRA_READ })
  policy.push({ caller: HOT_CALLER, integration: HOT_INTEGRATION, methods: ['GET', 'POST'], paths: [...JIRA_READ, ...JIRA_WRITE] })
  return {
    ...brokerConfigInput('small', options),
    listen: { host: '127.0.0.1', port: options.port },
    integrations: { [HOT_INTEGRATION]: { product: 'jira', cloudId: cloudId(1), credential: 'oauth' } },
    policy
  }
}

/** The config the broker child parses, pointed at the local upstream for both the API and the token endpoint. */
export function brokerConfigInput (kind: ConfigKind, options: { upstreamUrl: string, dataDir: string }): ConfigInput {
  return {
    listen: { host: '127.0.0.1', port: 0 },
    dataDir: options.dataDir,
    callers: { jwt: { audience: 'atlassian-broker', hs256Secret: CALLER_SECRET } },
    atlassian: { tokenUrl: `${options.upstreamUrl}/oauth/token`, apiUrl: options.upstreamUrl },
    secrets: { store: 'file', file: { path: `${options.dataDir}/secrets-${kind}.enc` } },
    logging: { level: 'info' },
    // The herd and the load are many concurrent calls by few callers: the per-caller share (default 32) is lifted.
    limits: { callerMaxConcurrent: 100_000 },
    ...(kind === 'small' ? smallConfig() : largeConfig())
  }
}

const CALLS_PER_MIX = 16

/** The request mix: 16 (caller, integration, path) triples; for large, rules spread over the whole list. */
export function trafficFor (kind: ConfigKind): Call[] {
  const calls: Call[] = []
  for (let k = 0; k < CALLS_PER_MIX; k++) {
    let caller: string
    let integration: string
    let product: 'jira' | 'confluence'
    if (kind === 'small') {
      caller = SMALL_CALLERS[k % SMALL_CALLERS.length] as string
      integration = Object.keys(SMALL_INTEGRATIONS)[(k + Math.floor(k / SMALL_CALLERS.length)) % 4] as string
      product = SMALL_INTEGRATIONS[integration as keyof typeof SMALL_INTEGRATIONS]
    } else {
      const rule = largeRule(Math.floor(k * (LARGE_RULES - LARGE_GLOB_RULES - 1) / (CALLS_PER_MIX - 1)))
      caller = rule.caller
      integration = `int-${pad(rule.integration)}`
      product = largeProduct(rule.integration)
    }
    const path = product === 'jira' ? `/rest/api/3/issue/OPS-${100 + k}?fields=summary,status` : `/wiki/api/v2/pages/${4_000 + k}?body-format=storage`
    calls.push({ caller, integration, path })
  }
  return calls
}

/** Integrations that need a stored credential for the bench's traffic (the others are never exchanged for). */
export function integrationsWithTraffic (kind: ConfigKind): string[] {
  const names = new Set(trafficFor(kind).map((call) => call.integration))
  if (kind === 'small') names.add(STREAM_INTEGRATION)
  return [...names]
}

const sign = createSigner({ key: CALLER_SECRET, algorithm: 'HS256' })
const tokens = new Map<string, string>()

/** One caller JWT per caller, valid for two hours (a job's token, reused for all its calls). */
export function callerToken (caller: string): string {
  let token = tokens.get(caller)
  if (token === undefined) {
    token = sign({ sub: caller, aud: 'atlassian-broker', exp: Math.floor(Date.now() / 1000) + 7_200 })
    tokens.set(caller, token)
  }
  return token
}

/** autocannon requests for a mix: each connection cycles through them. */
export function requestsFor (calls: Call[]): Array<{ method: string, path: string, headers: Record<string, string> }> {
  return calls.map((call) => ({ method: 'GET', path: `/proxy/${call.integration}${call.path}`, headers: { authorization: `Bearer ${callerToken(call.caller)}` } }))
}
