/**
 * `atlassian-broker check [--config FILE] [--offline]`: is this config ready to serve? Validates the file (every
 * problem at once, `${ENV}` references resolved), summarises integrations, policy and where caller keys come from,
 * and, unless offline, reaches what the broker will need: the secret store (which integrations lack a credential),
 * the caller JWKS, and Atlassian's token endpoint. Prints ✔/✖ lines; true when nothing failed.
 *
 * It never writes: a missing file store or HS256 key file is reported, not created (the broker creates them at
 * first start), and no real credential is sent anywhere.
 */
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import type { Logger } from 'pino'
import { request } from 'undici'
import { CALLER_KEY_FILE, resolveCallerKeys } from '../callers/caller-keys.js'
import { systemClock } from '../clock.js'
import { type BrokerConfig, type ParsedConfig } from '../config/schema.js'
import { ConfigError, loadConfig, type LoadedConfig } from '../config/load.js'
import { createLogger } from '../logger.js'
import { createSecretStore } from '../secrets/create-secret-store.js'
import { resolveSitesOutcome } from '../atlassian/site-resolver.js'
import { errorCode } from '../errors.js'

export interface CheckOptions {
  /** Validate the file only: no secret store, JWKS or token endpoint is contacted, no referenced file is read. */
  offline: boolean
  env?: NodeJS.ProcessEnv
  out?: NodeJS.WritableStream
  /** Where the secret store's own logs go (default: silent; the report says what matters). */
  logger?: Logger
}

/**
 * A client id no Atlassian app can have: the token endpoint must answer it with an OAuth error (RFC 6749 section 5.2),
 * which proves the endpoint is reachable without spending a real credential.
 */
export const PROBE_CLIENT_ID = 'atlassian-broker-check-invalid-client'

class Report {
  failures = 0
  constructor (readonly out: NodeJS.WritableStream) {}
  pass (line: string): void { this.out.write(`✔ ${line}\n`) }
  fail (line: string): void { this.failures += 1; this.out.write(`✖ ${line}\n`) }
  warn (line: string): void { this.out.write(`! ${line}\n`) }
  detail (line: string): void { this.out.write(`    ${line}\n`) }
}

export async function runCheck (loadedConfigFile: string | undefined, options: CheckOptions): Promise<boolean> {
  const env = options.env ?? process.env
  const report = new Report(options.out ?? process.stdout)
  let loaded: LoadedConfig
  try {
    loaded = loadConfig(loadedConfigFile, env)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    report.fail(`config: ${error.problems.length} problem${error.problems.length === 1 ? '' : 's'} in ${error.source}`)
    for (const problem of error.problems) report.detail(`- ${problem}`)
    return finish(report)
  }
  const { config } = loaded
  report.pass(`config: ${loaded.file ?? 'built-in defaults (no file found)'} is valid`)
  reportIntegrations(report, config)
  reportPolicy(report, config)
  reportCallers(report, config, options.offline)
  reportStoreConfig(report, config)
  if (options.offline) {
    report.warn('offline: the secret store, the caller JWKS and the token endpoint were not contacted')
    return finish(report)
  }
  checkReferencedFiles(report, config)
  const sites = await checkSites(report, config, options.logger ?? createLogger({ level: 'silent' }))
  await checkStore(report, sites, env, options.logger ?? createLogger({ level: 'silent' }))
  if (config.callers.jwt.jwksUrl !== undefined) await checkJwks(report, config.callers.jwt.jwksUrl)
  await checkTokenEndpoint(report, config)
  return finish(report)
}

function finish (report: Report): boolean {
  report.out.write(report.failures === 0 ? '\nAll checks passed.\n' : `\n${report.failures} check${report.failures === 1 ? '' : 's'} failed.\n`)
  return report.failures === 0
}

function reportIntegrations (report: Report, config: ParsedConfig): void {
  const names = Object.keys(config.integrations)
  if (names.length === 0) {
    report.warn('integrations: none configured; every proxied call will answer 404 (README: "Configuration")')
    return
  }
  report.pass(`integrations: ${names.length}`)
  for (const [name, integration] of Object.entries(config.integrations)) {
    const where = [integration.site === undefined ? undefined : `site ${integration.site}`, integration.cloudId === undefined ? undefined : `cloudId ${integration.cloudId}`]
    report.detail(`${name}: ${integration.product}, ${where.filter((part) => part !== undefined).join(', ')}, ${integration.credential} credential`)
  }
}

function reportPolicy (report: Report, config: ParsedConfig): void {
  if (config.policy.length === 0) {
    report.warn('policy: no rules; deny by default, so every call will be refused')
    return
  }
  const callers = new Set(config.policy.map((rule) => rule.caller))
  report.pass(`policy: ${config.policy.length} rule${config.policy.length === 1 ? '' : 's'} for ${callers.size} caller pattern${callers.size === 1 ? '' : 's'}`)
  const named = new Set(config.policy.map((rule) => rule.integration))
  const hasGlob = [...named].some((integration) => /[*?]/.test(integration))
  if (!hasGlob) {
    for (const name of Object.keys(config.integrations)) {
      if (!named.has(name)) report.warn(`policy: no rule names integration ${name}, so no caller can reach it`)
    }
  }
}

function reportCallers (report: Report, config: ParsedConfig, offline: boolean): void {
  const jwt = config.callers.jwt
  const claims = `audience ${[jwt.audience].flat().join(', ')}, issuer ${jwt.issuer === undefined ? '(any)' : [jwt.issuer].flat().join(', ')}, caller claim "${jwt.callerClaim}"`
  if (jwt.hs256Secret !== undefined) {
    report.pass(`callers: HS256 secret from the config; ${claims}`)
  } else if (jwt.jwksUrl !== undefined) {
    report.pass(`callers: JWKS at ${jwt.jwksUrl}; ${claims}`)
  } else if (jwt.publicKeys !== undefined) {
    if (offline) {
      report.pass(`callers: public keys ${jwt.publicKeys.join(', ')} (not read: offline); ${claims}`)
    } else {
      try {
        const keys = resolveCallerKeys({ ...config, integrations: {} })
        report.pass(`callers: ${keys.kind === 'public-keys' ? keys.keys.size : 0} public key(s) from ${jwt.publicKeys.join(', ')}; ${claims}`)
      } catch (error) {
        report.fail(`callers: cannot use the public keys in ${jwt.publicKeys.join(', ')}: ${describe(error)}`)
      }
    }
  } else {
    // resolveCallerKeys would create the key file; check must not write, so only look.
    const file = path.resolve(config.dataDir, CALLER_KEY_FILE)
    report.pass(existsSync(file)
      ? `callers: HS256 key generated earlier in ${file}; ${claims}`
      : `callers: no key source configured; the broker generates an HS256 key in ${file} at first start; ${claims}`)
  }
}

function reportStoreConfig (report: Report, config: ParsedConfig): void {
  const vault = config.secrets.vault
  if (config.secrets.store === 'vault' && vault) {
    const auth = vault.auth.method === 'kubernetes'
      ? `kubernetes auth (role ${vault.auth.role}, mount ${vault.auth.mountPath}, token ${vault.auth.jwtPath})`
      : vault.auth.method === 'approle' ? `approle auth (mount ${vault.auth.mountPath})` : 'a given token'
    report.pass(`secret store: Vault ${vault.address}, KV v2 ${vault.mount}/${vault.prefix}, ${auth}, revalidated every ${vault.revalidateSeconds} s`)
  } else {
    report.pass(`secret store: encrypted file ${config.secrets.file.path}`)
  }
}

/** Files the broker reads at start or login: missing ones fail later with less context, so say it now. */
function checkReferencedFiles (report: Report, config: ParsedConfig): void {
  const vault = config.secrets.vault
  if (config.secrets.store !== 'vault' || !vault) return
  const files: Array<[string, string]> = []
  if (vault.auth.method === 'kubernetes') files.push(['Vault login token (vault.auth.jwtPath)', vault.auth.jwtPath])
  if (vault.auth.method === 'approle' && vault.auth.secretIdFile !== undefined) files.push(['AppRole secret id (vault.auth.secretIdFile)', vault.auth.secretIdFile])
  if (vault.tls?.caFile !== undefined) files.push(['Vault CA (vault.tls.caFile)', vault.tls.caFile])
  for (const [what, file] of files) {
    try {
      readFileSync(file)
      report.pass(`${what}: ${file} is readable`)
    } catch (error) {
      report.fail(`${what}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`)
    }
  }
}

/** Looks every site up (as the broker does at start) and says where each cloudId came from. */
async function checkSites (report: Report, config: ParsedConfig, logger: Logger): Promise<BrokerConfig> {
  // check never writes: the answers are not kept in {dataDir}/sites.json (the broker keeps them at its start).
  const outcome = await resolveSitesOutcome(config, { logger, persist: false })
  for (const entry of outcome.resolved) {
    if (entry.from === 'site') report.pass(`site ${entry.site}: cloudId ${entry.cloudId} (integration ${entry.integration})`)
    else if (entry.from === 'cache' || entry.from === 'shared') report.warn(`site ${entry.site}: unreachable, using the cloudId cached earlier, ${entry.cloudId} (integration ${entry.integration})`)
    else report.warn(`site ${entry.site}: unreachable, using the configured cloudId ${entry.cloudId} unchecked (integration ${entry.integration})`)
  }
  for (const problem of outcome.problems) report.fail(problem)
  return outcome.config
}

async function checkStore (
  report: Report,
  config: BrokerConfig,
  env: NodeJS.ProcessEnv,
  logger: Logger
): Promise<void> {
  const integrations = Object.keys(config.integrations)
  if (config.secrets.store === 'file' && !existsSync(config.secrets.file.path)) {
    report.pass(
      `secret store: ${config.secrets.file.path} does not exist yet (created by the first \`atlassian-broker secrets put\`)`
    )
    if (integrations.length > 0) report.fail(`credentials: none stored yet, missing for ${integrations.join(', ')}`)
    return
  }
  let store
  try {
    store = await createSecretStore(config, { logger, clock: systemClock, env })
  } catch (error) {
    report.fail(`secret store: cannot open the ${config.secrets.store} store: ${describe(error)}`)
    return
  }
  try {
    const health = await store.health()
    if (health.ok) report.pass(`secret store: ${store.kind} reachable (${health.detail})`)
    else report.fail(`secret store: ${store.kind} not healthy (${health.detail})`)
    const stored = new Set((await store.list()).map((summary) => summary.integration))
    const missing = integrations.filter((name) => !stored.has(name))
    if (missing.length === 0) {
      report.pass(
        `credentials: stored for all ${integrations.length} integration${integrations.length === 1 ? '' : 's'}`
      )
    } else {
      report.fail(
        `credentials: no stored credential for ${missing.join(', ')} (store one with \`atlassian-broker secrets put NAME\`)`
      )
    }
  } catch (error) {
    report.fail(`secret store: ${describe(error)}`)
  } finally {
    await store.close().catch(() => undefined)
  }
}

async function checkJwks (report: Report, url: string): Promise<void> {
  try {
    const response = await request(url, { headers: { accept: 'application/json' }, headersTimeout: 5_000, bodyTimeout: 5_000, signal: AbortSignal.timeout(5_000) })
    const body = await response.body.json().catch(() => undefined) as { keys?: unknown } | undefined
    const keys = Array.isArray(body?.keys) ? body.keys.length : undefined
    if (response.statusCode === 200 && keys !== undefined && keys > 0) report.pass(`caller JWKS: ${url} answered ${keys} key${keys === 1 ? '' : 's'}`)
    else report.fail(`caller JWKS: ${url} answered ${response.statusCode}${keys === undefined ? ' without a key set' : ` with ${keys} keys`}`)
  } catch (error) {
    report.fail(`caller JWKS: ${url} unreachable (${describe(error)})`)
  }
}

/** Reachable = the endpoint answers an obviously invalid client with a JSON OAuth `error` (RFC 6749 section 5.2). */
async function checkTokenEndpoint (report: Report, config: ParsedConfig): Promise<void> {
  const url = config.atlassian.tokenUrl
  const timeoutMs = config.atlassian.timeouts.tokenMs
  try {
    const response = await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ grant_type: 'client_credentials', client_id: PROBE_CLIENT_ID, client_secret: 'not-a-secret' }),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs)
    })
    const text = await response.body.text().catch(() => '')
    let oauthError: unknown
    try { oauthError = (JSON.parse(text) as { error?: unknown }).error } catch { oauthError = undefined }
    if (typeof oauthError === 'string') report.pass(`token endpoint: ${url} reachable (answered ${response.statusCode} "${oauthError}" to an invalid client, as it should)`)
    else report.fail(`token endpoint: ${url} answered ${response.statusCode} without an OAuth error; is atlassian.tokenUrl right, or is a proxy answering?`)
  } catch (error) {
    report.fail(`token endpoint: ${url} unreachable (${describe(error)})`)
  }
}

/** Error code and message only: nothing here can hold a secret, but keep the line short. */
function describe (error: unknown): string {
  const code = errorCode(error)
  const cause = (error as { cause?: { code?: unknown, message?: unknown } }).cause
  const message = (error as Error).message ?? String(error)
  const causeText = cause !== undefined && typeof cause.message === 'string' && cause.message !== message ? `: ${cause.message}` : ''
  return `${message}${causeText}${typeof code === 'string' ? ` (${code})` : ''}`
}
