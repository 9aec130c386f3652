/**
 * Loading the configuration: the file (--config, $BROKER_CONFIG or ./atlassian-broker.yaml), `${ENV}` interpolation,
 * the schema (schema.ts) and the rules it cannot express checked together so every problem is reported at once with
 * its path, relative paths resolved against the file's folder, and the result frozen.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { createRequire } from 'node:module'
import { configSchema, type BrokerConfig, type ParsedConfig } from './schema.js'
import { DEFAULT_SITE_SUFFIXES, siteNameProblem } from './site-name.js'

export const DEFAULT_CONFIG_FILE = 'atlassian-broker.yaml'

// The YAML parser (73 modules, about 8 MB of a start) is loaded when a config file is read: `serve` on its built-in
// defaults never needs it. Synchronous, as loading the config is; yaml ships CommonJS for Node.
const require = createRequire(import.meta.url)
function parseYaml (text: string): unknown {
  return (require('yaml') as typeof import('yaml')).parse(text)
}

export class ConfigError extends Error {
  readonly code = 'BROKER_ERR_CONFIG'
  constructor (readonly source: string, readonly problems: string[]) {
    super(`Invalid configuration in ${source}:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`)
  }
}

/** A string whose value came from the environment: where it is, what the file says, and what it became. */
interface Interpolated { where: string, raw: string, value: string }

/** Replaces `${NAME}` and `${NAME:-fallback}` in every string; a missing variable is a problem at that path. Each
 *  string changed is noted in `seen`, so problems can quote the file's text instead of the value. */
function interpolate (
  value: unknown, where: string, problems: string[], env: NodeJS.ProcessEnv, seen: Interpolated[]
): unknown {
  if (typeof value === 'string') {
    const replaced = value.replace(/\$\{([A-Z_][A-Z0-9_]*)(?::-([^}]*))?\}/gi, (_match, variable: string, fallback: string | undefined) => {
      const resolved = env[variable] ?? fallback
      if (resolved === undefined) problems.push(`${where}: environment variable ${variable} is not set`)
      return resolved ?? ''
    })
    if (replaced !== value) seen.push({ where, raw: value, value: replaced })
    return replaced
  }
  if (Array.isArray(value)) return value.map((entry, index) => interpolate(entry, `${where}[${index}]`, problems, env, seen))
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, interpolate(entry, where ? `${where}.${key}` : key, problems, env, seen)]))
  }
  return value
}

/**
 * A problem about an interpolated value quotes the file's text (`${BROKER_MASTER_KEY}`), never the value: problems
 * go to the log (a refused reload) and to `check`'s output, and a `${VAR}` is how secrets get into a config.
 */
function quoteRaw (problem: string, seen: readonly Interpolated[]): string {
  const at = dotted(problem.slice(0, Math.max(0, problem.indexOf(': '))))
  let quoted = problem
  for (const { where, raw, value } of seen) {
    const path = dotted(where)
    const concerns = at === path || at.startsWith(`${path}.`) || path.startsWith(`${at}.`)
    if (!concerns || value === '') continue
    // Also as site-name.ts prints a host it refuses: printable ASCII, first 100 characters.
    const printed = value.replace(/[^\x20-\x7e]/g, '?').slice(0, 100)
    quoted = quoted.split(value).join(raw)
    if (printed.length >= 8) quoted = quoted.split(printed).join(raw)
  }
  return quoted
}

/** `policy[0].integration` and zod's `policy.0.integration` as one form. */
function dotted (where: string): string {
  return where.replace(/\[(\d+)\]/g, '.$1')
}

function deepFreeze<T> (value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const entry of Object.values(value)) deepFreeze(entry)
    Object.freeze(value)
  }
  return value
}

/** Validates a raw config object (as parsed from YAML); throws ConfigError listing every problem. */
export function parseConfig (raw: unknown, source = 'config', env: NodeJS.ProcessEnv = process.env): ParsedConfig {
  const problems: string[] = []
  const seen: Interpolated[] = []
  const interpolated = interpolate(raw ?? {}, '', problems, env, seen)
  const result = configSchema.safeParse(interpolated)
  if (!result.success) {
    for (const issue of result.error.issues) problems.push(`${issue.path.join('.') || '(root)'}: ${issue.message}`)
  }
  problems.push(...crossCheck(interpolated))
  if (problems.length > 0 || !result.success) {
    throw new ConfigError(source, problems.map((problem) => quoteRaw(problem, seen)))
  }
  return deepFreeze(result.data)
}

/** Rules the schema cannot express: references between sections. Reads the raw document, so its problems are
 *  reported together with the schema's even when the schema found some. */
function crossCheck (raw: unknown): string[] {
  const problems: string[] = []
  const document = (raw ?? {}) as {
    policy?: unknown
    integrations?: unknown
    callers?: { jwt?: Record<string, unknown> }
  }
  const integrations = document.integrations !== null && typeof document.integrations === 'object' ? document.integrations : {}
  if (Array.isArray(document.policy)) {
    document.policy.forEach((rule: unknown, index) => {
      const name = (rule as { integration?: unknown } | null)?.integration
      if (typeof name === 'string' && !/[*?[]/.test(name) && !Object.hasOwn(integrations, name)) {
        problems.push(`policy[${index}].integration: "${name}" is not defined under integrations`)
      }
    })
  }
  problems.push(
    ...siteProblems(integrations, (document as { atlassian?: { siteSuffixes?: unknown } }).atlassian?.siteSuffixes)
  )
  const jwt = document.callers?.jwt ?? {}
  const keySources = ['hs256Secret', 'publicKeys', 'jwksUrl'].filter((key) => jwt[key] !== undefined).length
  if (keySources > 1) problems.push('callers.jwt: give only one of hs256Secret, publicKeys, jwksUrl')
  return problems
}

function siteProblems (integrations: object, suffixes: unknown): string[] {
  const allowed = Array.isArray(suffixes) && suffixes.every((suffix) => typeof suffix === 'string') ? suffixes as string[] : DEFAULT_SITE_SUFFIXES
  return Object.entries(integrations).flatMap(([name, integration]) => {
    const site = (integration as { site?: unknown } | null)?.site
    if (site === undefined) return []
    const problem = typeof site === 'string' ? siteNameProblem(site, allowed) : 'a site is a host name such as acme.atlassian.net'
    return problem === undefined ? [] : [`integrations.${name}.site: ${problem}`]
  })
}

/** For configs that name every cloudId (tests, tools that never resolve sites): a BrokerConfig, or every gap listed. */
export function requireCloudIds (config: ParsedConfig, source = 'config'): BrokerConfig {
  const missing = Object.entries(config.integrations).filter(([, integration]) => integration.cloudId === undefined)
  if (missing.length > 0) throw new ConfigError(source, missing.map(([name]) => `integrations.${name}: cloudId not resolved from its site`))
  return config as BrokerConfig
}

export interface LoadedConfig {
  config: ParsedConfig
  /** The file read, or undefined when running on built-in defaults. */
  file: string | undefined
}

/**
 * Finds and loads the config: the --config file, else $BROKER_CONFIG, else ./atlassian-broker.yaml when present,
 * else the built-in defaults. Relative paths inside the file are resolved against the file's folder.
 */
export function loadConfig (explicitFile?: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const candidate = explicitFile ?? env.BROKER_CONFIG
  let file: string | undefined
  if (candidate !== undefined && candidate !== '') file = path.resolve(candidate)
  else {
    const local = path.resolve(DEFAULT_CONFIG_FILE)
    try { readFileSync(local); file = local } catch { file = undefined }
  }
  if (file === undefined) return { config: parseConfig({}, 'built-in defaults', env), file }
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new ConfigError(file, [`cannot read the file (${(error as NodeJS.ErrnoException).code ?? 'error'})`])
  }
  return loadConfigText(text, file, env)
}

/**
 * The config `text` would give if it were the contents of `file` (relative paths resolve against its folder): what
 * `init` checks before it writes anything.
 */
export function loadConfigText (
  text: string,
  file: string,
  env: NodeJS.ProcessEnv = process.env
): LoadedConfig & { file: string } {
  let raw: unknown
  try {
    raw = parseYaml(text)
  } catch (error) {
    throw new ConfigError(file, [`not valid YAML: ${(error as Error).message.split('\n')[0]}`])
  }
  // An empty file is a write caught halfway (a truncated copy, an editor, a volume mid-update) far more often than a
  // wish to run with no integrations: applied, it revoked every integration at once (issue 24). `{}` is on purpose.
  if (raw === null || raw === undefined) {
    throw new ConfigError(file, ['the file is empty (or only comments); write {} to run on the built-in defaults'])
  }
  const config = parseConfig(raw, file, env)
  return { config: resolvePaths(config, path.dirname(file)), file }
}

/** Makes relative file paths in a loaded config absolute against the config file's folder. */
function resolvePaths (config: ParsedConfig, base: string): ParsedConfig {
  const resolve = (target: string): string => path.resolve(base, target)
  const copy = structuredClone(config) as ParsedConfig
  copy.dataDir = resolve(copy.dataDir)
  copy.secrets.file.path = resolve(copy.secrets.file.path)
  if (copy.callers.jwt.publicKeys) copy.callers.jwt.publicKeys = copy.callers.jwt.publicKeys.map(resolve)
  if (copy.callers.admin.auditFile !== undefined) copy.callers.admin.auditFile = resolve(copy.callers.admin.auditFile)
  if (copy.usage.auditFile !== undefined) copy.usage.auditFile = resolve(copy.usage.auditFile)
  if (copy.metrics.bearerTokenFile !== undefined) copy.metrics.bearerTokenFile = resolve(copy.metrics.bearerTokenFile)
  const jwt = copy.callers.jwt
  if (jwt.jwksBearerTokenFile !== undefined) jwt.jwksBearerTokenFile = resolve(jwt.jwksBearerTokenFile)
  if (jwt.jwksCaFile !== undefined) jwt.jwksCaFile = resolve(jwt.jwksCaFile)
  const redis = copy.fleet?.redis
  if (redis?.passwordFile !== undefined) redis.passwordFile = resolve(redis.passwordFile)
  if (redis?.sentinel?.passwordFile !== undefined) redis.sentinel.passwordFile = resolve(redis.sentinel.passwordFile)
  if (redis?.tls?.caFile !== undefined) redis.tls.caFile = resolve(redis.tls.caFile)
  const vault = copy.secrets.vault
  if (vault?.tls?.caFile !== undefined) vault.tls.caFile = resolve(vault.tls.caFile)
  if (vault?.auth.method === 'approle' && vault.auth.secretIdFile !== undefined) vault.auth.secretIdFile = resolve(vault.auth.secretIdFile)
  if (vault?.auth.method === 'kubernetes') vault.auth.jwtPath = resolve(vault.auth.jwtPath)
  return deepFreeze(copy)
}
