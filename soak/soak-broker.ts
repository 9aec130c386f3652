/**
 * The broker under soak (soak/soak.ts), in its own process so its memory, file descriptors and handles are its own.
 * It is built the way `serve` builds it (createBroker from a parsed config, the Vault store logging in by AppRole),
 * logs at warn to a file the orchestrator reads at the end, and answers "sample" requests: heap after a full GC,
 * RSS, open file descriptors and active handles.
 */
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import { createBroker } from '../src/broker.js'
import { parseConfig } from '../src/config/load.js'
import { createLogger } from '../src/logger.js'
import { serveParent } from '../bench/processes.js'

export interface SoakBrokerSettings {
  /** The raw config (as YAML would give it). */
  config: Record<string, unknown>
  logFile: string
}

export interface SoakSample {
  heapUsed: number
  rss: number
  external: number
  arrayBuffers: number
  fds: number
  handles: number
  /** Active handles and requests by type, to see what grows if something does. */
  resources: Record<string, number>
}

function sample (): SoakSample {
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  const memory = process.memoryUsage()
  const resources: Record<string, number> = {}
  for (const name of process.getActiveResourcesInfo()) resources[name] = (resources[name] ?? 0) + 1
  return {
    heapUsed: memory.heapUsed,
    rss: memory.rss,
    external: memory.external,
    arrayBuffers: memory.arrayBuffers,
    fds: readdirSync('/proc/self/fd').length,
    handles: Object.values(resources).reduce((sum, count) => sum + count, 0),
    resources
  }
}

async function main (settings: SoakBrokerSettings): Promise<void> {
  const config = parseConfig(settings.config, 'soak config', {})
  const logger = createLogger({ level: 'warn', destination: pino.destination({ dest: settings.logFile, sync: false, mkdir: true }) })
  const broker = await createBroker(config, { logger })
  const url = await broker.app.listen({ host: '127.0.0.1', port: 0 })
  serveParent({ url }, { sample: async () => ({ ...sample() }) }, async () => {
    await broker.close()
    logger.flush()
  })
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const raw = process.env.SOAK_BROKER
  if (raw === undefined) throw new Error('SOAK_BROKER is not set: this module is started by soak/soak.ts')
  await main(JSON.parse(raw) as SoakBrokerSettings)
}
