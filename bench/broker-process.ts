/**
 * The broker under test, in its own process so its RSS and CPU time can be read from /proc and a CPU profile taken
 * (`--cpu-prof`). The child builds the broker the way `serve` does (createBroker with the embedded file store,
 * its own undici Pool to the upstream), logs every request at info to a file or /dev/null, keeps its Prometheus
 * metrics (on by default, as in production), and answers "memory" requests over IPC.
 */
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import { createBroker } from '../src/broker.js'
import { parseConfig } from '../src/config/load.js'
import { createLogger } from '../src/logger.js'
import { createFileStore } from '../src/secrets/file/file-store.js'
import { brokerConfigInput, integrationsWithTraffic, MASTER_KEY, type ConfigKind } from './broker-config.js'
import { benchModule, ChildServer, memoryReport, profileHandlers, serveParent } from './processes.js'

export interface BrokerChildSettings {
  kind: ConfigKind
  upstreamUrl: string
  dataDir: string
  /** Where the per-request log lines go: a file, or /dev/null. */
  logFile: string
  /** Fleet mode (bench/scenarios/fleet.ts): merged over the config. */
  overrides?: Record<string, unknown>
}

export interface BrokerReady {
  url: string
  /** The metrics path, or "off". */
  metrics: string
  /** From parsing the config to listening (the config's size shows here), credentials' seeding left out. */
  startMs: number
}

export type BrokerProcess = ChildServer<BrokerReady>

export function spawnBroker (
  settings: BrokerChildSettings,
  options: { cpus?: string | undefined }
): Promise<BrokerProcess> {
  const nodeArgs = ['--expose-gc']
  return ChildServer.start<BrokerReady>(benchModule('broker-process'), {
    cpus: options.cpus,
    nodeArgs,
    env: { BENCH_BROKER: JSON.stringify(settings) }
  })
}

async function main (settings: BrokerChildSettings): Promise<void> {
  const started = performance.now()
  mkdirSync(settings.dataDir, { recursive: true })
  const config = parseConfig({ ...brokerConfigInput(settings.kind, settings), ...settings.overrides }, `bench ${settings.kind} config`, {})
  // Synchronous writes, as pino's default stdout destination in production.
  const logger = createLogger({
    level: config.logging.level,
    destination: pino.destination({ dest: settings.logFile, sync: true })
  })
  const store = await createFileStore({ path: config.secrets.file.path, masterKey: MASTER_KEY, logger })
  // Storing the bench's credentials (first start only) is set-up, not start-up: left out of startMs.
  const seeding = performance.now()
  const stored = new Set((await store.list()).map((summary) => summary.integration))
  for (const integration of integrationsWithTraffic(settings.kind)) {
    if (!stored.has(integration)) await store.put(integration, { client_id: `bench-client-${integration}`, client_secret: `bench-secret-${integration}-0123456789abcdef` })
  }
  const seedMs = performance.now() - seeding
  const broker = await createBroker(config, { logger, store })
  const metrics = config.metrics.enabled ? config.metrics.path : 'off'
  const url = await broker.app.listen({ host: '127.0.0.1', port: 0 })
  serveParent(
    { url, metrics, startMs: performance.now() - started - seedMs },
    { memory: memoryReport, ...profileHandlers },
    () => broker.close()
  )
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const raw = process.env.BENCH_BROKER
  if (raw === undefined) throw new Error('BENCH_BROKER is not set: this module is started by bench/run')
  await main(JSON.parse(raw) as BrokerChildSettings)
}
