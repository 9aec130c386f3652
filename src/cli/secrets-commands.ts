/** `atlassian-broker secrets put|list`: manage stored credentials from the command line. Values are never printed. */
import type { Logger } from 'pino'
import { systemClock } from '../clock.js'
import type { BrokerConfig } from '../config/schema.js'
import { daysUntil } from '../credentials/expiry.js'
import { parseExpiresAt } from '../credentials/rotation.js'
import { createSecretStore } from '../secrets/create-secret-store.js'
import { parseCredential } from '../secrets/credential.js'
import type { SecretStore } from '../secrets/secret-store.js'
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

export function integrationConfig (config: BrokerConfig, integration: string | undefined): { name: string, credential: 'oauth' | 'api-token' } {
  if (integration === undefined || integration === '') throw new UsageError('name the integration, e.g. `secrets put jira-main`')
  const found = config.integrations[integration]
  if (!found) {
    const known = Object.keys(config.integrations)
    throw new UsageError(`integration "${integration}" is not in the config` + (known.length > 0 ? ` (known: ${known.join(', ')})` : ' (no integrations are configured yet: add one under `integrations:`)'))
  }
  return { name: integration, credential: found.credential }
}

export async function putSecret (
  context: SecretsCommandContext,
  integration: string | undefined,
  options: { expiresAt?: string, owner?: string }
): Promise<void> {
  const target = integrationConfig(context.config, integration)
  const data = parseCredential(target.credential, parseCredentialJson(await readStdin(context.stdin)))
  const metadata = {
    rotated_at: new Date().toISOString(),
    rotated_by: context.actor,
    ...(options.expiresAt ? { expires_at: parseExpiresAt(options.expiresAt) } : {}),
    ...(options.owner ? { owner: options.owner } : {})
  }
  // Check-and-set against the version read just before, like every other write: a concurrent writer gets a 409, not a
  // silent overwrite.
  const { version } = await withStore(context, async (store) =>
    store.put(target.name, data, { metadata, cas: (await store.currentVersion(target.name)) ?? 0 })
  )
  ;(context.stdout ?? process.stdout).write(
    `Stored the ${target.credential} credential of ${target.name} as version ${version}.\n`
  )
}

export async function listSecrets (context: SecretsCommandContext, options: { json?: boolean }): Promise<void> {
  const summaries = await withStore(context, (store) => store.list())
  const out = context.stdout ?? process.stdout
  const now = Date.now()
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
    if (!(summary.integration in context.config.integrations)) rows.push({ integration: summary.integration, version: summary.currentVersion, updated: summary.updatedAt, rotatedBy: summary.metadata.rotated_by, expiresAt: summary.metadata.expires_at, daysToExpiry: undefined, state: 'not in config' })
  }
  if (options.json) out.write(`${JSON.stringify(rows, null, 2)}\n`)
  else if (rows.length === 0) out.write('No integrations configured and no secrets stored.\n')
  else printTable(rows, out)
}
