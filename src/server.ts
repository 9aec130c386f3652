/**
 * The process: load config, build the broker, listen, and close with grace on SIGTERM/SIGINT
 * (stop accepting, let in-flight requests finish within `shutdownGraceMs`, exit 0).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { Logger } from 'pino'
import { listenAdmin } from './http/admin-listener.js'
import { createBroker, type Broker } from './broker.js'
import { CALLER_KEY_FILE } from './callers/caller-keys.js'
import type { LoadedConfig } from './config/load.js'
import { ConfigReloader } from './config/reload.js'

export interface RunningServer {
  broker: Broker
  url: string
  reloader: ConfigReloader | undefined
  stop: () => Promise<void>
}

export async function startServer (loaded: LoadedConfig, logger: Logger): Promise<RunningServer> {
  const { config } = loaded
  const broker = await createBroker(config, { logger })
  const address = await broker.app.listen({ host: config.listen.host, port: config.listen.port })
  const adminApp = broker.credentialAdmin.adminApp
  const adminListen = config.callers.admin.listen
  if (adminApp !== undefined && adminListen !== undefined) {
    logger.info({ adminUrl: await listenAdmin(adminApp, adminListen) }, 'admin listener up (no caller token needed: reaching it is the credential)')
  }
  const metricsListen = config.metrics.listen
  if (broker.metricsApp !== undefined && metricsListen !== undefined) {
    const metricsUrl = await broker.metricsApp.listen({ host: metricsListen.host, port: metricsListen.port })
    logger.info({ metricsUrl: `${metricsUrl}${config.metrics.path}`, bearerToken: config.metrics.bearerTokenFile !== undefined }, 'metrics listener up (metrics, /healthz, /readyz; no /proxy)')
  }
  const integrations = Object.keys(config.integrations)
  logger.info({
    url: address,
    config: loaded.file ?? 'built-in defaults',
    secretStore: config.secrets.store === 'vault' ? { kind: 'vault', address: config.secrets.vault?.address } : { kind: 'file', path: config.secrets.file.path },
    callerKeys: broker.callerKeys.kind === 'hs256' && broker.callerKeys.generatedFile ? { kind: 'hs256 (generated)', file: broker.callerKeys.generatedFile } : { kind: broker.callerKeys.kind },
    integrations: integrations.length,
    policyRules: config.policy.length,
    // The process to signal (SIGHUP reloads): under `npm start` the parent pids are npm's and sh's, not the broker's.
    pid: process.pid
  }, `atlassian-broker listening on ${address} (pid ${process.pid})`)
  if (integrations.length === 0) {
    // `npx` finds the package's own bin from a clone, where a bare `atlassian-broker` is not on PATH.
    logger.info('next: add an integration with `npx atlassian-broker init --integration NAME --site SITE.atlassian.net ' +
      '--product jira --caller CALLER < credential.json` (README: "Usage"), or write ' +
      `${loaded.file ?? 'atlassian-broker.yaml'} yourself (README: "Configuration") and store a credential with ` +
      '`npx atlassian-broker secrets put NAME < credential.json`; mint a caller token with ' +
      '`npx atlassian-broker caller-token --sub CALLER`, then call ' + `${address}/proxy/NAME/rest/api/3/myself` +
      (broker.callerKeys.kind === 'hs256' && broker.callerKeys.generatedFile ? ` (callers are verified with the key in ${config.dataDir}/${CALLER_KEY_FILE})` : ''))
  }
  const reloader =
    loaded.file === undefined
      ? undefined
      : new ConfigReloader({
        file: loaded.file,
        live: broker.live,
        running: broker.config,
        logger,
        ...broker.reloading
      })
  if (reloader !== undefined && config.reload.watchFile) reloader.watchFile()
  const pidFile = writePidFile(config.dataDir, logger)
  const stop = async (): Promise<void> => {
    reloader?.close()
    removePidFile(pidFile)
    await broker.close()
  }
  return { broker, url: address, reloader, stop }
}

/** Where `serve` leaves its pid, in the data dir. */
export const PID_FILE = 'broker.pid'

/** `{dataDir}/broker.pid`, for `atlassian-broker reload` (src/cli/reload-command.ts); best effort. */
function writePidFile (dataDir: string, logger: Logger): string | undefined {
  const file = path.join(dataDir, PID_FILE)
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    writeFileSync(file, `${process.pid}\n`, { mode: 0o600 })
    return file
  } catch (error) {
    logger.warn({ file, code: (error as NodeJS.ErrnoException).code }, 'could not write the pid file; `atlassian-broker reload` will not find this broker (SIGHUP still reloads)')
    return undefined
  }
}

/** Removed only while it still names this process (another broker on the same data dir may have replaced it). */
function removePidFile (file: string | undefined): void {
  if (file === undefined) return
  try {
    if (readFileSync(file, 'utf8').trim() === String(process.pid)) rmSync(file)
  } catch { /* gone already */ }
}

/** Wires SIGTERM/SIGINT to a graceful stop; a second signal or the grace running out forces the exit. */
export function closeOnSignals (server: RunningServer, logger: Logger, graceMs: number): void {
  let stopping = false
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now')
      process.exit(1)
    }
    stopping = true
    logger.info({ signal, graceMs }, 'stopping: no new connections, waiting for in-flight requests')
    const force = setTimeout(() => {
      logger.warn({ graceMs }, 'grace period over: closing remaining connections')
      server.broker.app.server.closeAllConnections()
      process.exit(1)
    }, graceMs)
    force.unref()
    server.stop().then(() => {
      logger.info('stopped')
      logger.flush?.()
      process.exit(0)
    }, (error: unknown) => {
      logger.error({ err: error }, 'error while stopping')
      process.exit(1)
    })
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  // SIGHUP: reload integrations and policy; in-flight calls finish on what they started with.
  process.on('SIGHUP', () => {
    if (server.reloader === undefined) logger.warn('SIGHUP: no config file to reload (running on built-in defaults)')
    else void server.reloader.reload()
  })
}
