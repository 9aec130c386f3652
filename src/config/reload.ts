/**
 * Reloading the config file while serving (SIGHUP, `POST /admin/reload`, or a watch on the file). A bad file is
 * refused with every problem logged, and the old config keeps serving. A good one applies in two steps, so a site
 * lookup never holds up a policy change (a slow tenant_info held a revocation 20 s, issue 24):
 * 1. at once: the policy, removals, and every integration whose entry is unchanged (it keeps the cloudId it has);
 * 2. once the sites of new or changed integrations are looked up (all at once, each with its deadline): those
 *    integrations, unless a later reload has dropped or changed them meanwhile. A site that cannot be resolved is
 *    a problem of that integration only; a changed one keeps serving its old entry until its new site resolves.
 * Reloads queue for step 1 only: a lookup in flight never delays a later reload. Sections a running broker cannot
 * change (listen, secrets, callers, …) are reported as needing a restart and left as they were.
 */
import type { Logger } from 'pino'
import type { BrokerConfig, IntegrationConfig, ParsedConfig } from './schema.js'
import { ConfigError, loadConfig } from './load.js'
import type { LiveConfig } from './live-config.js'
import { ConfigFileWatch } from './config-watch.js'
import { describeChanges } from './config-diff.js'
import { integrationNamed } from './integration-lookup.js'

export type ReloadOutcome =
  | { outcome: 'applied' | 'unchanged', hash: string, changes: string[], needRestart: string[], problems: string[] }
  | { outcome: 'rejected', problems: string[] }

/** Sites resolved for some integrations: those it could resolve, with their cloudId, and a problem for each other. */
export interface SitesAnswer { config: BrokerConfig, problems: string[] }

export interface ConfigReloaderOptions {
  file: string
  live: LiveConfig
  /** The config the process started with: the sections a reload cannot change are compared against it. */
  running: BrokerConfig
  logger: Logger
  /**
   * Resolves sites exactly as at start (src/atlassian/site-resolver.ts resolveSitesOutcome, passed in by the broker
   * so that config/ does not import atlassian/, which reads config/'s types). Never throws for a site.
   */
  resolveSites: (config: ParsedConfig, logger: Logger) => Promise<SitesAnswer>
  /** Each reload's result, once: the broker counts it (atlassian_broker_config_reload_total) and audits what
   *  changed. */
  record?: (result: ReloadOutcome, file: string) => void
  env?: NodeJS.ProcessEnv
  now?: () => Date
}

const LIVE_SECTIONS = new Set(['integrations', 'policy'])

type Integrations = Record<string, IntegrationConfig>
type Parsed = ParsedConfig['integrations'][string]
interface FirstStep { changes: string[], needRestart: string[], lookups: Promise<SitesAnswer> | undefined }

export class ConfigReloader {
  readonly #options: ConfigReloaderOptions
  #watch: ConfigFileWatch | undefined
  #queue: Promise<unknown> = Promise.resolve()
  /** The integrations of the file last accepted, as written: a lookup's answer applies only if still wanted. */
  #wanted: Readonly<Record<string, Parsed>> | undefined

  constructor (options: ConfigReloaderOptions) {
    this.#options = options
  }

  /** One first step at a time: a second signal waits for the first's step 1, never for its lookups. */
  async reload (): Promise<ReloadOutcome> {
    const step = this.#queue.then(() => this.#firstStep())
    this.#queue = step.catch(() => undefined)
    const { file, live, logger } = this.#options
    let first: FirstStep
    try {
      first = await step
    } catch (error) {
      const problems = error instanceof ConfigError ? error.problems : [(error as Error).message]
      logger.error({ file, problems }, `config reload refused (${problems.length} problem${problems.length === 1 ? '' : 's'}); the previous config keeps serving`)
      const refused: ReloadOutcome = { outcome: 'rejected', problems }
      live.noteRefused(problems, this.#options.now ?? (() => new Date()))
      this.#options.record?.(refused, file)
      return refused
    }
    const { needRestart } = first
    const changes = [...first.changes]
    const problems = first.lookups === undefined ? [] : await this.#secondStep(first.lookups, changes)
    const outcome = changes.length > 0 ? 'applied' : problems.length > 0 ? 'rejected' : 'unchanged'
    if (outcome === 'rejected') live.noteRefused(problems, this.#options.now ?? (() => new Date()))
    if (outcome === 'unchanged') logger.info({ file, hash: live.state.hash }, 'config reload: integrations and policy unchanged')
    const result: ReloadOutcome = outcome === 'rejected'
      ? { outcome, problems }
      : { outcome, hash: live.state.hash, changes, needRestart, problems }
    this.#options.record?.(result, file)
    return result
  }

  async #firstStep (): Promise<FirstStep> {
    const { file, live, logger } = this.#options
    const now = this.#options.now ?? (() => new Date())
    const parsed = loadConfig(file, this.#options.env).config
    this.#wanted = parsed.integrations
    const needRestart = Object.keys(parsed).filter(
      (key) =>
        !LIVE_SECTIONS.has(key) &&
        JSON.stringify((parsed as Record<string, unknown>)[key]) !==
          JSON.stringify((this.#options.running as Record<string, unknown>)[key])
    )
    if (needRestart.length > 0) logger.warn({ sections: needRestart }, 'config reload: these sections changed and take effect only after a restart')
    const atOnce: Integrations = {}
    const toLookUp: Record<string, Parsed> = {}
    for (const [name, entry] of Object.entries(parsed.integrations)) {
      const current = integrationNamed(live.integrations, name)
      if (current !== undefined && sameEntry(entry, current)) atOnce[name] = current
      else if (entry.site === undefined && entry.cloudId !== undefined) atOnce[name] = entry as IntegrationConfig
      else {
        toLookUp[name] = entry
        // Changed: the old entry serves until the new site is resolved (never a silent switch to an unknown tenant).
        if (current !== undefined) atOnce[name] = current
      }
    }
    const before = { integrations: live.integrations, policy: live.policyRules }
    const changes = describeChanges(before, { integrations: atOnce, policy: parsed.policy })
    if (changes.length > 0) {
      live.swap(atOnce, parsed.policy, now)
      logger.info({ file, hash: live.state.hash, changes }, `config reloaded: ${changes.join('; ')}`)
    }
    const lookUp = Object.keys(toLookUp).length > 0
    const lookups = lookUp ? this.#options.resolveSites({ ...parsed, integrations: toLookUp }, logger) : undefined
    return { changes, needRestart, lookups }
  }

  /** Adds what the lookups resolved and is still wanted; returns the problems. `changes` grows by what applied. */
  async #secondStep (lookups: Promise<SitesAnswer>, changes: string[]): Promise<string[]> {
    const { file, live, logger } = this.#options
    const now = this.#options.now ?? (() => new Date())
    let answer: SitesAnswer
    try {
      answer = await lookups
    } catch (error) {
      const problems = error instanceof ConfigError ? error.problems : [(error as Error).message]
      answer = { config: { integrations: {} } as unknown as BrokerConfig, problems }
    }
    const resolved: Integrations = {}
    for (const [name, entry] of Object.entries(answer.config.integrations)) {
      const wanted = this.#wanted !== undefined && Object.hasOwn(this.#wanted, name) ? this.#wanted[name] : undefined
      if (wanted !== undefined && sameEntry(wanted, entry)) resolved[name] = entry
    }
    const next = { ...live.integrations, ...resolved }
    const added = describeChanges({ integrations: live.integrations, policy: [] }, { integrations: next, policy: [] })
    if (added.length > 0) {
      live.swap(next, live.policyRules, now, { sameReload: changes.length > 0 })
      changes.push(...added)
      logger.info({ file, hash: live.state.hash, changes: added }, `config reloaded: ${added.join('; ')}`)
    }
    if (answer.problems.length > 0) {
      logger.error({ file, problems: answer.problems }, `config reload: ${answer.problems.length} integration(s) not applied (their sites did not resolve); the rest of the file applies`)
    }
    return answer.problems
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

/** True when the file's entry still describes the live one: every field the same, a cloudId the file names agreeing,
 *  and one it leaves to the site already resolved. */
function sameEntry (entry: Parsed, live: IntegrationConfig): boolean {
  const cloudId = entry.cloudId?.toLowerCase() ?? live.cloudId?.toLowerCase()
  const keys = new Set([...Object.keys(entry), ...Object.keys(live)].filter((key) => key !== 'cloudId'))
  return cloudId === live.cloudId?.toLowerCase() && [...keys].every((key) =>
    JSON.stringify((entry as Record<string, unknown>)[key]) === JSON.stringify((live as Record<string, unknown>)[key]))
}
