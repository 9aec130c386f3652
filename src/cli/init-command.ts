/**
 * `atlassian-broker init`: from a site name to a first call. Looks the site's cloudId up, reads the credential from
 * stdin (never argv), verifies it with Atlassian (token exchange, then one read), and only then writes the config
 * (comments kept), stores the credential, and prints a caller token and a working curl line. Nothing is written
 * when a step fails, and each failure says what to fix.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { Logger } from 'pino'
import { request } from 'undici'
import { systemClock } from '../clock.js'
import { type BrokerConfig, type IntegrationConfig } from '../config/schema.js'
import { ConfigError, DEFAULT_CONFIG_FILE, loadConfig } from '../config/load.js'
import { createSecretStore } from '../secrets/create-secret-store.js'
import { parseCredential } from '../secrets/credential.js'
import type { CredentialData } from '../secrets/secret-store.js'
import { firstCallHint } from '../atlassian/first-call.js'
import { normalizeSiteInput, siteNameProblem } from '../config/site-name.js'
import { resolveSites } from '../atlassian/site-resolver.js'
import { storeSiteCache } from '../atlassian/site-cache.js'
import { exchangeClientCredentials } from '../atlassian/token-endpoint.js'
import { apiTokenAuthorization } from '../atlassian/api-token.js'
import { mintCallerToken } from './caller-token.js'
import { extendConfigText, type InitEntry } from './init-config-file.js'
import { createPrompter } from './init-prompts.js'
import { parseCredentialJson, readStdin, UsageError } from './io.js'

export interface InitFlags {
  config?: string
  integration?: string
  site?: string
  product?: string
  credential?: string
  caller?: string
}

export interface InitContext {
  logger: Logger
  actor: string
  stdin?: NodeJS.ReadableStream
  stdout?: NodeJS.WritableStream
  env?: NodeJS.ProcessEnv
}

const READ_PROBE: Record<IntegrationConfig['product'], string> = { jira: '/rest/api/3/myself', confluence: '/wiki/api/v2/spaces?limit=1' }

export async function runInit (flags: InitFlags, context: InitContext): Promise<void> {
  const stdin = context.stdin ?? process.stdin
  const out = context.stdout ?? process.stdout
  const env = context.env ?? process.env
  const interactive = (stdin as NodeJS.ReadStream).isTTY === true
  const answers = interactive ? await askMissing(flags, stdin, out) : { flags, credentialJson: undefined }
  const entry = validateFlags(answers.flags)
  const file = path.resolve(flags.config ?? env.BROKER_CONFIG ?? DEFAULT_CONFIG_FILE)
  const existing = existsSync(file) ? readFileSync(file, 'utf8') : undefined
  const { text, changes } = extendConfigText(existing, entry)
  // The candidate file sits beside the real one, so relative paths resolve the same; it replaces it only at the end.
  const candidate = `${file}.init-${process.pid}.tmp`
  writeFileSync(candidate, text, { mode: 0o600 })
  try {
    const config = await loadCandidate(candidate, file, env, context.logger)
    const integration = config.integrations[entry.integration]
    if (integration === undefined) throw new UsageError(`integration ${entry.integration} is missing after the edit`)
    out.write(`✔ site ${entry.site}: cloudId ${integration.cloudId}\n`)
    const json = answers.credentialJson ?? await readStdin(stdin)
    const data = parseCredential(entry.credential, parseCredentialJson(json))
    await verify(config, entry.integration, integration, data, out)
    await store(config, entry.integration, data, context, out)
    renameSync(candidate, file)
  } finally {
    rmSync(candidate, { force: true })
  }
  out.write(changes.length === 0 ? `✔ config: ${file} already had ${entry.integration} and a rule for ${entry.caller}\n` : `✔ config: ${file}: ${changes.join('; ')}\n`)
  const final = loadConfig(file, env).config
  const base = `http://${final.listen.host.includes(':') ? `[${final.listen.host}]` : final.listen.host}:${final.listen.port}`
  let token: string
  try {
    token = mintCallerToken({ ...final, integrations: {} }, { sub: entry.caller, ttlSeconds: 3_600 })
  } catch (error) {
    out.write(`! caller token: ${(error as Error).message}\n`)
    return
  }
  out.write(`\nCaller token for ${entry.caller} (1 hour; \`atlassian-broker caller-token --sub ${entry.caller}\` mints more):\n${token}\n\n`)
  out.write('Start (or reload) the broker, then:\n')
  out.write(`  atlassian-broker serve --config ${file}\n`)
  out.write(`  curl -sS -H "Authorization: Bearer ${token}" ${base}/proxy/${entry.integration}${READ_PROBE[entry.product]}\n`)
}

async function askMissing (
  flags: InitFlags,
  stdin: NodeJS.ReadableStream,
  out: NodeJS.WritableStream
): Promise<{ flags: InitFlags, credentialJson: string | undefined }> {
  const prompter = createPrompter(stdin, out)
  try {
    const site = flags.site ?? (await prompter.ask('Atlassian site (e.g. acme.atlassian.net)'))
    const product = flags.product ?? (await prompter.ask('Product (jira or confluence)', 'jira'))
    const integration =
      flags.integration ??
      (await prompter.ask('Integration name', `${normalizeSiteInput(site).split('.')[0] ?? 'site'}-${product}`))
    const credential = flags.credential ?? (await prompter.ask('Credential (oauth or api-token)', 'oauth'))
    const caller = flags.caller ?? (await prompter.ask('Caller allowed to use it (JWT sub)', `${integration}-reader`))
    const secret =
      credential === 'api-token'
        ? { token: await prompter.askSecret('API token') }
        : {
            client_id: await prompter.ask('OAuth client_id'),
            client_secret: await prompter.askSecret('OAuth client_secret')
          }
    return {
      flags: { ...flags, site, product, integration, credential, caller },
      credentialJson: JSON.stringify(secret)
    }
  } finally {
    prompter.close()
  }
}

function validateFlags (flags: InitFlags): InitEntry {
  const problems: string[] = []
  const integration = flags.integration ?? ''
  if (!/^[a-z0-9][a-z0-9._-]{0,62}$/i.test(integration)) problems.push('--integration NAME: letters, digits, ".", "_" or "-" (e.g. jira-main)')
  const site = normalizeSiteInput(flags.site ?? '')
  const siteProblem = site === '' ? 'give the site, e.g. acme.atlassian.net' : siteNameProblem(site)
  if (siteProblem !== undefined) problems.push(`--site: ${siteProblem}`)
  if (flags.product !== 'jira' && flags.product !== 'confluence') problems.push('--product: jira or confluence')
  const credential = flags.credential ?? 'oauth'
  if (credential !== 'oauth' && credential !== 'api-token') problems.push('--credential: oauth or api-token')
  if (problems.length > 0) throw new UsageError(`init needs:\n  ${problems.join('\n  ')}`)
  return { integration, site, product: flags.product as InitEntry['product'], credential: credential as InitEntry['credential'], caller: flags.caller ?? `${integration}-reader` }
}

async function loadCandidate (
  candidate: string,
  file: string,
  env: NodeJS.ProcessEnv,
  logger: Logger
): Promise<BrokerConfig> {
  try {
    return await resolveSites(loadConfig(candidate, env).config, { logger })
  } catch (error) {
    if (error instanceof ConfigError) {
      throw new UsageError(
        `the config would not load after adding the integration (nothing was written):\n${error.problems.map((problem) => `  - ${problem}`).join('\n')}\n  fix ${file} first`
      )
    }
    throw error
  }
}

/** Token exchange (OAuth), then one read through the gateway, which proves the cloudId and a scope. */
async function verify (
  config: BrokerConfig,
  name: string,
  integration: IntegrationConfig,
  data: CredentialData,
  out: NodeJS.WritableStream
): Promise<void> {
  const timeoutMs = config.atlassian.timeouts.tokenMs
  let authorization: string
  if (integration.credential === 'oauth') {
    try {
      const token = await exchangeClientCredentials({
        tokenUrl: config.atlassian.tokenUrl,
        clientId: data.client_id ?? '',
        clientSecret: data.client_secret ?? '',
        timeoutMs
      })
      authorization = `Bearer ${token.accessToken}`
      out.write(`✔ token exchange: Atlassian issued a token for ${token.expiresIn} s\n`)
    } catch (error) {
      throw new UsageError(
        `token exchange failed: ${(error as Error).message}; check client_id/client_secret (Admin → Directory → Service accounts → Credentials; a secret cannot be shown again, create a new one if unsure)`
      )
    }
  } else {
    authorization = apiTokenAuthorization(data)
  }
  const probe = READ_PROBE[integration.product]
  const url = `${config.atlassian.apiUrl.replace(/\/$/, '')}/ex/${integration.product}/${integration.cloudId}${probe}`
  const response = await request(url, {
    method: 'GET',
    headers: { authorization, accept: 'application/json' },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs
  })
  const body = await response.body.text()
  if (response.statusCode === 200) {
    out.write(`✔ read: GET ${probe} answered 200\n`)
    out.write(
      `  scopes: Atlassian does not report a credential's scopes; this read proves ${integration.product === 'jira' ? 'read:jira-user (or its granular set)' : 'read:space:confluence'} is granted\n`
    )
    return
  }
  if (response.statusCode === 401 && /scope does not match/i.test(body)) {
    throw new UsageError(
      `read: GET ${probe} answered 401 "scope does not match": the credential lacks the scope for it; scopes are fixed when a credential is created, so create one with the scopes your callers need`
    )
  }
  if (response.statusCode === 401 || response.statusCode === 404) { throw new UsageError(`read: ${firstCallHint(name, integration, response.statusCode)}`) }
  if (response.statusCode === 403) {
    throw new UsageError(
      `read: GET ${probe} answered 403: the scope is granted but the service account has no permission in ${integration.product}; add it to a group or project role`
    )
  }
  throw new UsageError(
    `read: GET ${probe} answered ${response.statusCode}; try again, or run \`atlassian-broker check\``
  )
}

async function store (
  config: BrokerConfig,
  name: string,
  data: CredentialData,
  context: InitContext,
  out: NodeJS.WritableStream
): Promise<void> {
  const secrets = await createSecretStore(config, {
    logger: context.logger,
    clock: systemClock,
    writtenBy: context.actor,
    ...(context.env ? { env: context.env } : {})
  })
  try {
    const { version } = await secrets.put(name, data, {
      metadata: { rotated_at: new Date().toISOString(), rotated_by: context.actor },
      cas: (await secrets.currentVersion(name)) ?? 0
    })
    out.write(`✔ credential: stored for ${name} as version ${version} in the ${secrets.kind} store\n`)
    // With Vault, every sidecar can then start from this answer even while the site is unreachable.
    const integration = config.integrations[name]
    if (secrets.kind === 'vault' && integration?.site !== undefined) {
      await storeSiteCache(secrets, context.logger).write(name, {
        site: integration.site.toLowerCase(),
        cloudId: integration.cloudId,
        resolvedAt: new Date().toISOString()
      })
    }
  } finally {
    await secrets.close()
  }
}
