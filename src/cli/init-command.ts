/**
 * `atlassian-broker init`: from a site name to a first call. Looks the site's cloudId up, reads the credential from
 * stdin (never argv), stores it through the one credential write path (cli-writer.ts: verified with Atlassian by the
 * same probe and verdict as `secrets rotate`, unless `--no-verify`; audited; announced), and only then writes the
 * config (comments kept) and prints a caller token and a working curl line. Nothing is written when a step fails, and
 * each failure says what to fix: exit 1 when Atlassian refuses the credential (as `secrets rotate`), 2 when the input
 * (flags, site, config) is wrong.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { systemClock } from '../clock.js'
import type { Logger } from 'pino'
import { CREDENTIAL_PROBES, type CredentialVerifier } from '../atlassian/credential-probe.js'
import { integrationNamed } from '../config/integration-lookup.js'
import type { BrokerConfig } from '../config/schema.js'
import { ConfigError, DEFAULT_CONFIG_FILE, loadConfig } from '../config/load.js'
import type { WriteResult } from '../credentials/credential-writer.js'
import { errorCode } from '../errors.js'
import { normalizeSiteInput, siteNameProblem } from '../config/site-name.js'
import { resolveSites } from '../atlassian/site-resolver.js'
import { storeSiteCache } from '../atlassian/site-cache.js'
import { mintCallerToken } from './caller-token.js'
import { withWriter } from './cli-writer.js'
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
  /** false: store the credential without asking Atlassian (`--no-verify`). */
  verify?: boolean
}

export interface InitContext {
  logger: Logger
  actor: string
  stdin?: NodeJS.ReadableStream
  stdout?: NodeJS.WritableStream
  env?: NodeJS.ProcessEnv
  /** Tests swap the Atlassian check. */
  verify?: CredentialVerifier
}

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
    const integration = integrationNamed(config.integrations, entry.integration)
    if (integration === undefined) throw new UsageError(`integration ${entry.integration} is missing after the edit`)
    out.write(`✔ site ${entry.site}: cloudId ${integration.cloudId}\n`)
    const json = answers.credentialJson ?? await readStdin(stdin)
    const credential = parseCredentialJson(json)
    const result = await store(config, entry.integration, credential, flags.verify !== false, context)
    report(result, entry.integration, out)
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
  out.write(`  curl -sS -H "Authorization: Bearer ${token}" ${base}/proxy/${entry.integration}${CREDENTIAL_PROBES[entry.product].path}\n`)
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

/** Through the one write path; the verdict is the same as `secrets rotate`'s (atlassian/credential-probe.ts). */
async function store (
  config: BrokerConfig,
  name: string,
  credential: unknown,
  verify: boolean,
  context: InitContext
): Promise<WriteResult> {
  const { logger, actor, env, verify: verifier } = context
  const writerContext = { config, logger, actor, env, verify: verifier }
  try {
    return await withWriter(writerContext, async (writer) => {
      const result = await writer.write('init', { integration: name, config: integrationNamed(config.integrations, name) ?? never(), credential, actor: context.actor, verify })
      // With Vault, every sidecar can then start from this answer even while the site is unreachable.
      const integration = integrationNamed(config.integrations, name)
      if (writer.store.kind === 'vault' && integration?.site !== undefined) {
        await storeSiteCache(writer.store, context.logger).write(name, {
          site: integration.site.toLowerCase(),
          cloudId: integration.cloudId,
          resolvedAt: new Date(systemClock.now()).toISOString()
        })
      }
      return { ...result, storeKind: writer.store.kind }
    })
  } catch (error) {
    // A cloudId that does not answer, or a credential of the other kind: the input is wrong, not the credential.
    if (errorCode(error) === 'BROKER_ERR_STATE_CONFLICT') throw new UsageError(`read: ${(error as Error).message}`)
    throw error
  }
}

function report (result: WriteResult & { storeKind?: string }, name: string, out: NodeJS.WritableStream): void {
  const { check } = result
  if (check === undefined) {
    out.write('! not verified (--no-verify): Atlassian was not asked whether this credential works\n')
  } else {
    if (check.tokenLifetimeSeconds !== undefined) out.write(`✔ token exchange: Atlassian issued a token for ${check.tokenLifetimeSeconds} s\n`)
    if (check.warning === undefined) {
      out.write(`✔ read: GET ${check.probe.path} answered ${check.probe.status}\n`)
      const product = check.probe.path.startsWith('/wiki/') ? 'confluence' : 'jira'
      out.write(`  scopes: Atlassian does not report a credential's scopes; this read proves ${CREDENTIAL_PROBES[product].scope} (or its granular set) is granted\n`)
    } else {
      out.write(`! read: ${check.warning}\n`)
    }
  }
  out.write(`✔ credential: stored for ${name} as version ${result.newVersion} in the ${result.storeKind ?? ''} store\n`)
  if (result.announced === true) out.write('✔ fleet: told through Redis\n')
}

function never (): never {
  throw new Error('integration vanished from the config')
}
