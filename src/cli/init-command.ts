/**
 * `atlassian-broker init`: from a site name to a first call. Looks the site's cloudId up, reads the credential from
 * stdin (never argv), stores it through the one credential write path (cli-writer.ts: verified with Atlassian by the
 * same probe and verdict as `secrets rotate`, unless `--no-verify`; audited; announced), and only then writes the
 * config (comments kept, through a symlink) and `{dataDir}/sites.json`, and prints a caller token and a working curl
 * line. Until every step passed nothing is written: no temp file, no data folder, no site cache (issue 24 §5), and a
 * signal in that time ends the process with nothing to clean up (interrupt-guard.ts). Each failure says what to fix:
 * exit 1 when Atlassian refuses the credential (as `secrets rotate`), 2 when the input (flags, site, config) is wrong.
 */
import path from 'node:path'
import type { Logger } from 'pino'
import type { CredentialVerifier } from '../atlassian/credential-probe.js'
import { resolveSitesOrThrow } from '../atlassian/site-resolver.js'
import { storeSiteCache } from '../atlassian/site-cache.js'
import { systemClock } from '../clock.js'
import { integrationNamed } from '../config/integration-lookup.js'
import { ConfigError, DEFAULT_CONFIG_FILE, loadConfig, loadConfigText } from '../config/load.js'
import type { BrokerConfig } from '../config/schema.js'
import type { WriteResult } from '../credentials/credential-writer.js'
import { errorCode } from '../errors.js'
import { mintCallerToken } from './caller-token.js'
import { withWriter } from './cli-writer.js'
import { parseReason } from '../credentials/change-reason.js'
import { validateFlags, type InitFlags } from './init-answers.js'
import { extendConfigText, readConfigText, writeConfigEntry } from './init-config-file.js'
import { askMissing, createPrompter } from './init-prompts.js'
import { printNextSteps, printStored } from './init-report.js'
import { InterruptGuard } from './interrupt-guard.js'
import { parseCredentialJson, readStdin, UsageError } from './io.js'

export type { InitFlags } from './init-answers.js'

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
  parseReason(flags.reason) // the write checks it too; here a bad one is refused before anything is asked
  const answers = interactive ? await askInTerminal(flags, stdin, out) : { flags, credentialJson: undefined }
  const entry = validateFlags(answers.flags)
  const file = path.resolve(flags.config ?? env.BROKER_CONFIG ?? DEFAULT_CONFIG_FILE)
  const existing = readConfigText(file)
  const { text, changes } = extendConfigText(existing, entry)
  // Checked in memory as if it were the file (relative paths resolve the same); written only at the end.
  const { config, saveCache } = await loadCandidate(text, existing, file, env, context.logger)
  const integration = integrationNamed(config.integrations, entry.integration)
  if (integration === undefined) throw new UsageError(`integration ${entry.integration} is missing after the edit`)
  out.write(`✔ site ${entry.site}: cloudId ${integration.cloudId}\n`)
  const credential = parseCredentialJson(answers.credentialJson ?? await readStdin(stdin))
  const guard = new InterruptGuard()
  let result: WriteResult & { storeKind: string }
  try {
    if (flags.verify === false) guard.commit()
    result = await store(config, entry.integration, credential, flags.verify !== false, {
      ...context,
      reason: flags.reason,
      verified: () => guard.commit()
    })
    await writeConfigEntry(file, existing, text, entry)
    saveCache()
  } finally {
    guard.finish()
  }
  printStored(result, entry.integration, out)
  out.write(changes.length === 0 ? `✔ config: ${file} already had ${entry.integration} and a rule for ${entry.caller}\n` : `✔ config: ${file}: ${changes.join('; ')}\n`)
  const final = loadConfig(file, env).config
  let token: string
  try {
    token = mintCallerToken({ ...final, integrations: {} }, { sub: entry.caller, ttlSeconds: 3_600 })
  } catch (error) {
    out.write(`! caller token: ${(error as Error).message}\n`)
    return
  }
  printNextSteps({ ...final, integrations: {} }, file, entry, token, out, env)
}

async function askInTerminal (
  flags: InitFlags,
  stdin: NodeJS.ReadableStream,
  out: NodeJS.WritableStream
): Promise<{ flags: InitFlags, credentialJson: string }> {
  const prompter = createPrompter(stdin, out)
  try {
    return await askMissing(flags, prompter, out)
  } finally {
    prompter.close()
  }
}

/**
 * The edited config, loaded and its sites resolved, without writing anything (`saveCache` keeps the answers later).
 * "Fix the file" is said only when the file as it is would not load either; a site that does not answer is not the
 * file's fault.
 */
async function loadCandidate (
  text: string,
  existing: string | undefined,
  file: string,
  env: NodeJS.ProcessEnv,
  logger: Logger
): Promise<{ config: BrokerConfig, saveCache: () => void }> {
  let parsed
  try {
    parsed = loadConfigText(text, file, env).config
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    const fileIsBad = existing !== undefined && !loads(existing, file, env)
    throw new UsageError(
      `the config would not load after adding the integration (nothing was written):\n${listed(error.problems)}` +
      (fileIsBad ? `\n  fix ${file} first` : '')
    )
  }
  try {
    return await resolveSitesOrThrow(parsed, { logger, persist: false })
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    throw new UsageError(`could not look the site up (nothing was written):\n${listed(error.problems)}`)
  }
}

function loads (text: string, file: string, env: NodeJS.ProcessEnv): boolean {
  try {
    loadConfigText(text, file, env)
    return true
  } catch {
    return false
  }
}

function listed (problems: string[]): string {
  return problems.map((problem) => `  - ${problem}`).join('\n')
}

/** Through the one write path; the verdict is the same as `secrets rotate`'s (atlassian/credential-probe.ts). */
async function store (
  config: BrokerConfig,
  name: string,
  credential: unknown,
  verify: boolean,
  context: InitContext & { verified: () => void, reason: string | undefined }
): Promise<WriteResult & { storeKind: string }> {
  const { logger, actor, env, verify: verifier, verified } = context
  const writerContext = { config, logger, actor, env, verify: verifier, verified }
  try {
    return await withWriter(writerContext, async (writer) => {
      const result = await writer.write('init', { integration: name, config: integrationNamed(config.integrations, name) ?? never(), credential, actor: context.actor, verify, reason: context.reason })
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

function never (): never {
  throw new Error('integration vanished from the config')
}
