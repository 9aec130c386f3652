/**
 * Reloading the config file while serving (SIGHUP, or a watch on the file): the new file is loaded and its sites
 * resolved exactly as at start; only when all of that succeeds are integrations and policy swapped (LiveConfig).
 * A bad file is refused with every problem logged, and the old config keeps serving. Sections a running broker
 * cannot change (listen, secrets, callers, …) are reported as needing a restart and left as they were.
 */
import type { Logger } from 'pino'
import { type BrokerConfig, type ParsedConfig } from './schema.js'
import { ConfigError, loadConfig } from './load.js'
import type { LiveConfig } from './live-config.js'
import { ConfigFileWatch } from './config-watch.js'

export type ReloadOutcome = { outcome: 'applied' | 'unchanged', hash: string, changes: string[], needRestart: string[] } | { outcome: 'rejected', problems: string[] }

export interface ConfigReloaderOptions {
  file: string
  live: LiveConfig
  /** The config the process started with: the sections a reload cannot change are compared against it. */
  running: BrokerConfig
  logger: Logger
  /**
   * Resolves the new file's sites exactly as at start (src/atlassian/site-resolver.ts, passed in by the server so that
   * config/ does not import atlassian/, which reads config/'s types).
   */
  resolveSites: (config: ParsedConfig, logger: Logger) => Promise<BrokerConfig>
  /** Counts each outcome (the broker's atlassian_broker_config_reload_total). */
  record?: (outcome: ReloadOutcome['outcome']) => void
  env?: NodeJS.ProcessEnv
  now?: () => Date
}

const LIVE_SECTIONS = new Set(['integrations', 'policy'])

export class ConfigReloader {
  readonly #options: ConfigReloaderOptions
  #watch: ConfigFileWatch | undefined
  #queue: Promise<unknown> = Promise.resolve()

  constructor (options: ConfigReloaderOptions) {
    this.#options = options
  }

  /** One reload at a time: a second signal waits for the first to finish. */
  async reload (): Promise<ReloadOutcome> {
    const next = this.#queue.then(async () => await this.#reload())
    this.#queue = next.catch(() => undefined)
    return await next
  }

  async #reload (): Promise<ReloadOutcome> {
    const { file, live, logger } = this.#options
    const now = this.#options.now ?? (() => new Date())
    let config: BrokerConfig
    try {
      config = await this.#options.resolveSites(loadConfig(file, this.#options.env).config, logger)
    } catch (error) {
      const problems = error instanceof ConfigError ? error.problems : [(error as Error).message]
      this.#options.record?.('rejected')
      logger.error({ file, problems }, `config reload refused (${problems.length} problem${problems.length === 1 ? '' : 's'}); the previous config keeps serving`)
      return { outcome: 'rejected', problems }
    }
    const changes = describeChanges(live, config)
    const needRestart = Object.keys(config).filter(
      (key) =>
        !LIVE_SECTIONS.has(key) &&
        JSON.stringify((config as Record<string, unknown>)[key]) !==
          JSON.stringify((this.#options.running as Record<string, unknown>)[key])
    )
    if (needRestart.length > 0) logger.warn({ sections: needRestart }, 'config reload: these sections changed and take effect only after a restart')
    if (changes.length === 0) {
      this.#options.record?.('unchanged')
      logger.info({ file, hash: live.state.hash }, 'config reload: integrations and policy unchanged')
      return { outcome: 'unchanged', hash: live.state.hash, changes, needRestart }
    }
    live.swap(config.integrations, config.policy, now)
    this.#options.record?.('applied')
    logger.info({ file, hash: live.state.hash, changes }, `config reloaded: ${changes.join('; ')}`)
    return { outcome: 'applied', hash: live.state.hash, changes, needRestart }
  }

  /** Reloads when what the file's path reads changes: an edit, a replace, a symlink's target, a ConfigMap's swap
   * (config-watch.ts). */
  watchFile (onOutcome?: (outcome: ReloadOutcome) => void): void {
    this.#watch ??= new ConfigFileWatch(this.#options.file, () => { void this.reload().then(onOutcome) })
  }

  close (): void {
    this.#watch?.close()
    this.#watch = undefined
  }
}

function describeChanges (live: LiveConfig, next: BrokerConfig): string[] {
  const changes: string[] = []
  const before = live.integrations
  for (const name of Object.keys(next.integrations)) {
    if (!Object.hasOwn(before, name)) changes.push(`integration ${name} added`)
    else if (JSON.stringify(before[name]) !== JSON.stringify(next.integrations[name])) changes.push(`integration ${name} changed`)
  }
  for (const name of Object.keys(before)) if (!Object.hasOwn(next.integrations, name)) changes.push(`integration ${name} removed`)
  if (JSON.stringify(live.policyRules) !== JSON.stringify(next.policy)) changes.push(`policy: ${live.policyRules.length} → ${next.policy.length} rules`)
  return changes
}
