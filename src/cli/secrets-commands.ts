/**
 * `atlassian-broker secrets put|list`: manage stored credentials from the command line. `put` verifies the credential
 * with Atlassian first (`--no-verify` skips that for one it cannot check yet). Values are never printed.
 */
import type { Logger } from 'pino'
import { systemClock } from '../clock.js'
import type { CredentialVerifier } from '../atlassian/credential-probe.js'
import { integrationNamed } from '../config/integration-lookup.js'
import type { BrokerConfig, IntegrationConfig } from '../config/schema.js'
import { daysUntil } from '../credentials/expiry.js'
import { createSecretStore } from '../secrets/create-secret-store.js'
import type { SecretStore } from '../secrets/secret-store.js'
import { howVerified, printOutcome, withWriter } from './cli-writer.js'
import { parseCredentialJson, printTable, readStdin, UsageError } from './io.js'

export interface SecretsCommandContext {
  config: BrokerConfig
  logger: Logger
  stdin?: NodeJS.ReadableStream
  stdout?: NodeJS.WritableStream
  /** Who runs the command, recorded as `rotated_by` (defaults to the OS user). */
  actor: string
}

export async function withStore<T> (
  context: SecretsCommandContext,
  use: (store: SecretStore) => Promise<T>
): Promise<T> {
  const store = await createSecretStore(context.config, {
    logger: context.logger,
    clock: systemClock,
    writtenBy: context.actor
  })
  try {
    return await use(store)
  } finally {
    await store.close()
  }
}

export function integrationConfig (config: BrokerConfig, integration: string | undefined): { name: string, credential: 'oauth' | 'api-token', config: IntegrationConfig } {
  if (integration === undefined || integration === '') throw new UsageError('name the integration, e.g. `secrets put jira-main`')
  const found = integrationNamed(config.integrations, integration)
  if (!found) {
    const known = Object.keys(config.integrations)
    throw new UsageError(`integration "${integration}" is not in the config` + (known.length > 0 ? ` (known: ${known.join(', ')})` : ' (no integrations are configured yet: add one under `integrations:`)'))
  }
  return { name: integration, credential: found.credential, config: found }
}

/** `secrets put` and `secrets rotate`: a credential from stdin, verified first (unless `verify: false`), then written,
 * audited and announced like every credential write (cli-writer.ts). */
export async function writeSecret (
  context: SecretsCommandContext & { verify?: CredentialVerifier },
  action: 'put' | 'rotate',
  integration: string | undefined,
  options: { expiresAt?: string, owner?: string, reason?: string, verify?: boolean }
): Promise<void> {
  const target = integrationConfig(context.config, integration)
  const credential = parseCredentialJson(await readStdin(context.stdin))
  const result = await withWriter(context, (writer) => writer.write(action, {
    integration: target.name,
    config: target.config,
    credential,
    actor: context.actor,
    expiresAt: options.expiresAt,
    owner: options.owner,
    reason: options.reason,
    verify: options.verify
  }))
  const out = context.stdout ?? process.stdout
  const what = `the ${action === 'rotate' ? 'new ' : ''}${target.credential} credential of ${target.name}`
  if (result.check !== undefined) out.write(`Verified ${what} ${howVerified(result.check)}.\n`)
  printOutcome(context.config, result, out, action === 'put' ? what : undefined)
}

export async function listSecrets (context: SecretsCommandContext, options: { json?: boolean }): Promise<void> {
  const summaries = await withStore(context, (store) => store.list())
  const out = context.stdout ?? process.stdout
  const now = systemClock.now()
  const rows = Object.keys(context.config.integrations).map((name) => {
    const summary = summaries.find((entry) => entry.integration === name)
    const expiresAt = summary?.metadata.expires_at
    return {
      integration: name,
      version: summary?.currentVersion,
      updated: summary?.updatedAt,
      rotatedBy: summary?.metadata.rotated_by,
      expiresAt,
      daysToExpiry: expiresAt ? daysUntil(expiresAt, now) : undefined,
      state: summary ? 'stored' : 'missing'
    }
  })
  for (const summary of summaries) {
    if (integrationNamed(context.config.integrations, summary.integration) === undefined) rows.push({ integration: summary.integration, version: summary.currentVersion, updated: summary.updatedAt, rotatedBy: summary.metadata.rotated_by, expiresAt: summary.metadata.expires_at, daysToExpiry: undefined, state: 'not in config' })
  }
  if (options.json) out.write(`${JSON.stringify(rows, null, 2)}\n`)
  else if (rows.length === 0) out.write('No integrations configured and no secrets stored.\n')
  else printTable(rows, out)
}
