/**
 * Builds a real broker for a test: the fake Atlassian on loopback, an embedded file store in a temp folder, a
 * caller HS256 key, logs captured in memory (so tests can scan them for secrets), listening on 127.0.0.1:0.
 * Everything is torn down with the test.
 */
import { Writable } from 'node:stream'
import { createSigner } from 'fast-jwt'
import type { Test } from 'tap'
import { Client } from 'undici'
import { createBroker, type Broker, type BrokerOptions } from '../../src/broker.js'
import type { Clock } from '../../src/clock.js'
import { type BrokerConfig } from '../../src/config/schema.js'
import { parseConfig } from '../../src/config/load.js'
import { createLogger } from '../../src/logger.js'
import { createFileStore } from '../../src/secrets/file/file-store.js'
import type { SecretStore } from '../../src/secrets/secret-store.js'
import { FakeAtlassian } from './fake-atlassian.js'

export const JIRA_CLOUD_ID = '11111111-1111-1111-1111-111111111111'
export const WIKI_CLOUD_ID = '22222222-2222-2222-2222-222222222222'
export const CALLER_SECRET = 'test-caller-secret-0123456789-abcdefghijklmnop'
export const CLIENT_ID = 'svc-client-id'
export const CLIENT_SECRET = 'svc-client-secret-ABCDEF0123456789'
export const MASTER_KEY = 'test-master-key-passphrase-4f2b9d'

export interface Harness {
  broker: Broker
  config: BrokerConfig
  fake: FakeAtlassian
  store: SecretStore
  /** Base URL of the listening broker, e.g. http://127.0.0.1:PORT */
  url: string
  /** Every log line the broker wrote, as raw JSON text. */
  logs: string[]
  /** A caller JWT for `sub`, signed with the harness key, issued at the broker clock's now. */
  callerToken: (sub: string, claims?: Record<string, unknown>, ttlSeconds?: number) => string
}

export interface HarnessOptions {
  /** Merged over the default config (top-level keys replace). */
  config?: Record<string, unknown>
  clock?: Clock
  /** Skip storing the default credentials. */
  empty?: boolean
  /** A store to use instead of the temp file store (e.g. the Vault store). */
  store?: SecretStore
  brokerOptions?: Partial<BrokerOptions>
  fake?: FakeAtlassian
}

export function memoryLogStream (lines: string[]): Writable {
  return new Writable({
    write (chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(line)
      callback()
    }
  })
}

/**
 * Fleet tests assert what Redis shares (one exchange for the fleet, one budget): on a loaded CI machine the default
 * 250 ms command deadline expires while Redis is only starved of CPU, the sidecar then rightly goes local and exchanges
 * or counts by itself, and the test flakes (fleet-cluster.test.ts did: two exchanges at load 14). Unless a test sets
 * its own deadline, the harness gives a loaded machine's; a stopped or paused Redis still times out.
 */
const PATIENT_COMMAND_MS = 3_000

function patientFleet (config: Record<string, unknown> | undefined): Record<string, unknown> {
  const fleet = config?.fleet as { redis?: Record<string, unknown> } | undefined
  if (fleet?.redis === undefined || fleet.redis.commandTimeoutMs !== undefined) return {}
  return { fleet: { ...fleet, redis: { ...fleet.redis, commandTimeoutMs: PATIENT_COMMAND_MS } } }
}

export async function startHarness (t: Test, options: HarnessOptions = {}): Promise<Harness> {
  const fake = options.fake ?? await FakeAtlassian.start({
    t,
    sites: [{ product: 'jira', cloudId: JIRA_CLOUD_ID }, { product: 'confluence', cloudId: WIKI_CLOUD_ID }]
  })
  fake.addClient(CLIENT_ID, CLIENT_SECRET, { email: 'report-bot@serviceaccount.atlassian.com' })
  const dir = t.testdir({})
  const config = parseConfig({
    listen: { host: '127.0.0.1', port: 0 },
    dataDir: dir,
    callers: { jwt: { audience: 'atlassian-broker', hs256Secret: CALLER_SECRET } },
    atlassian: { tokenUrl: fake.tokenUrl, apiUrl: fake.url },
    integrations: {
      'jira-main': { product: 'jira', cloudId: JIRA_CLOUD_ID, credential: 'oauth' },
      'wiki-main': { product: 'confluence', cloudId: WIKI_CLOUD_ID, credential: 'oauth' }
    },
    policy: [
      { caller: 'report-job', integration: 'jira-main', methods: ['GET', 'POST', 'PUT'], paths: ['/rest/api/3/**'] },
      { caller: 'report-job', integration: 'wiki-main', methods: ['GET'], paths: ['/wiki/**'] }
    ],
    secrets: { store: 'file', file: { path: `${dir}/secrets.enc` } },
    ...options.config,
    ...patientFleet(options.config)
  }, 'test config', {})
  const logs: string[] = []
  const logger = createLogger({ level: 'debug', destination: memoryLogStream(logs) })
  const store =
    options.store ?? (await createFileStore({ path: config.secrets.file.path, masterKey: MASTER_KEY, logger }))
  if (!options.empty) {
    await store.put('jira-main', { client_id: CLIENT_ID, client_secret: CLIENT_SECRET })
    await store.put('wiki-main', { client_id: CLIENT_ID, client_secret: CLIENT_SECRET })
  }
  const broker = await createBroker(config, {
    logger,
    store,
    ...(options.clock ? { clock: options.clock } : {}),
    ...options.brokerOptions
  })
  const url = await broker.app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => broker.close())
  const sign = createSigner({ key: CALLER_SECRET, algorithm: 'HS256' })
  return {
    broker,
    config: broker.config,
    fake,
    store,
    url,
    logs,
    // Minted on the broker's clock (a ManualClock when the test gives one), which is the clock it checks them on.
    callerToken: (sub, claims = {}, ttlSeconds = 3600) => {
      const now = Math.floor((options.clock?.now() ?? Date.now()) / 1000)
      return sign({ sub, aud: 'atlassian-broker', iat: now, exp: now + ttlSeconds, ...claims })
    }
  }
}

/** Sends a request target exactly as given (no URL normalisation, unlike `fetch` or `request(url)`). */
export async function rawRequest (
  base: string,
  path: string,
  options: { method?: string, headers?: Record<string, string> } = {}
): Promise<{ statusCode: number, headers: Record<string, unknown>, body: string }> {
  const client = new Client(base)
  try {
    const response = await client.request({
      path,
      method: (options.method ?? 'GET') as 'GET',
      headers: options.headers ?? {}
    })
    return { statusCode: response.statusCode, headers: response.headers, body: await response.body.text() }
  } finally {
    await client.close()
  }
}
