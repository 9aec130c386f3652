/**
 * `atlassian-broker secrets rotate|rollback|history`: rotation from the command line, with the same rules as the admin
 * API (src/credentials/rotation.ts): verified against Atlassian first, written with check-and-set against the version
 * read, one audit record per action in `callers.admin.auditFile` when set. Values are never printed.
 */
import { systemClock } from '../clock.js'
import { AuditLog, auditFailure, type AuditAction } from '../credentials/audit.js'
import { revalidateMs } from '../secrets/create-secret-store.js'
import { daysUntil } from '../credentials/expiry.js'
import { credentialHistory, rollbackCredential, rotateCredential, type RotationContext, type RotationResult } from '../credentials/rotation.js'
import { createCredentialVerifier, type CredentialVerifier } from '../atlassian/credential-probe.js'
import type { SecretStore } from '../secrets/secret-store.js'
import { parseCredentialJson, printTable, readStdin, UsageError } from './io.js'
import { integrationConfig, withStore, type SecretsCommandContext } from './secrets-commands.js'

export interface RotationCommandContext extends SecretsCommandContext {
  /** Tests swap the Atlassian check; default: the token endpoint and API gateway from config.atlassian. */
  verify?: CredentialVerifier
}

export async function rotateSecret (
  context: RotationCommandContext,
  integration: string | undefined,
  options: { expiresAt?: string, owner?: string }
): Promise<void> {
  const target = integrationConfig(context.config, integration)
  const credential = parseCredentialJson(await readStdin(context.stdin))
  const result = await audited(context, 'rotate', target.name, (rotation) =>
    rotateCredential(rotation, {
      integration: target.name,
      config: context.config.integrations[target.name] ?? never(),
      credential,
      actor: context.actor,
      expiresAt: options.expiresAt,
      owner: options.owner
    })
  )
  const how =
    target.credential === 'oauth' ? 'with one exchange at the token endpoint' : 'with one authenticated API call'
  await report(context, result, `Verified the new ${target.credential} credential of ${target.name} ${how}.`)
}

export async function rollbackSecret (
  context: RotationCommandContext,
  integration: string | undefined,
  options: { to?: string }
): Promise<void> {
  const target = integrationConfig(context.config, integration)
  const toVersion = options.to === undefined ? undefined : parseVersion(options.to)
  const result = await audited(context, 'rollback', target.name, (rotation) =>
    rollbackCredential(rotation, {
      integration: target.name,
      config: context.config.integrations[target.name] ?? never(),
      actor: context.actor,
      toVersion
    })
  )
  await report(
    context,
    result,
    `Verified the credential of version ${result.restoredVersion ?? '?'} of ${target.name} again.`
  )
}

export async function secretHistory (
  context: SecretsCommandContext,
  integration: string | undefined,
  options: { json?: boolean }
): Promise<void> {
  const target = integrationConfig(context.config, integration)
  const history = await withStore(context, (store) => credentialHistory(store, target.name))
  const out = context.stdout ?? process.stdout
  if (options.json === true) {
    out.write(`${JSON.stringify(history, null, 2)}\n`)
    return
  }
  if (history.versions.length === 0) {
    out.write(
      `No credential is stored for ${target.name} yet: atlassian-broker secrets put ${target.name} < credential.json\n`
    )
    return
  }
  const { metadata } = history
  const days = metadata.expires_at === undefined ? undefined : daysUntil(metadata.expires_at, Date.now())
  out.write(
    `${target.name}: current version ${history.currentVersion ?? '-'}; last rotated ${metadata.rotated_at ?? '-'} by ${metadata.rotated_by ?? '-'}; ` +
      `expires ${metadata.expires_at ?? '-'}${days === undefined ? '' : ` (${days} days)`}; owner ${metadata.owner ?? '-'}\n`
  )
  printTable(
    history.versions.map((entry) => ({
      version: entry.version,
      created: entry.createdAt,
      writtenBy: entry.writtenBy,
      readable: entry.readable ? 'yes' : 'no (pruned or deleted)',
      current: entry.version === history.currentVersion ? 'yes' : ''
    })),
    out
  )
}

/** Runs the action against the store with one audit record, success or not. */
async function audited (
  context: RotationCommandContext,
  action: AuditAction,
  integration: string,
  run: (rotation: RotationContext) => Promise<RotationResult>
): Promise<RotationResult> {
  // Failures are printed by main(); the audit's own log line would only repeat them on stderr.
  const audit = new AuditLog({
    logger: context.logger.child({}, { level: 'error' }),
    clock: systemClock,
    file: context.config.callers.admin.auditFile
  })
  const verify =
    context.verify ??
    createCredentialVerifier({
      tokenUrl: context.config.atlassian.tokenUrl,
      apiUrl: context.config.atlassian.apiUrl,
      timeoutMs: context.config.atlassian.timeouts.tokenMs
    })
  const base = { actor: context.actor, action, integration, via: 'cli' as const }
  try {
    return await withStore(context, async (store) => {
      try {
        const result = await run({ store, verify, clock: systemClock })
        audit.record({
          ...base,
          oldVersion: result.oldVersion,
          newVersion: result.newVersion,
          outcome: 'ok',
          ...(result.restoredVersion === undefined ? {} : { detail: `restored version ${result.restoredVersion}` })
        })
        return result
      } catch (error) {
        audit.record({ ...base, oldVersion: await currentOf(store, integration), ...auditFailure(error) })
        throw error
      }
    })
  } finally {
    await audit.close()
  }
}

async function report (context: RotationCommandContext, result: RotationResult, verified: string): Promise<void> {
  const out = context.stdout ?? process.stdout
  const seconds = Math.round(revalidateMs(context.config) / 1000)
  out.write(`${verified}\n`)
  // Fleet mode: tell every sidecar now (src/fleet/announce.ts); loaded only then.
  const fleet = context.config.fleet
  let cause = 'could not be reached'
  const told = fleet === undefined
    ? false
    : await (await import('../fleet/announce.js')).announceCredentialChange(fleet, result, `cli:${context.actor}`, (why) => { cause = why })
  const stored = `Stored it as version ${result.newVersion}${result.oldVersion === undefined ? '' : ` (was ${result.oldVersion})`}. `
  out.write(told
    ? `${stored}Told the fleet through Redis: every sidecar drops its token and uses the new version on its next call.\n`
    : `${stored}Running brokers use it for new token exchanges within ${seconds} s${fleet === undefined ? '' : ` (the fleet's Redis was not told: ${cause})`}; ` +
      'tokens minted from older versions stay in use until they expire or Atlassian refuses them.\n')
  for (const note of result.notes) out.write(`Note: ${note}\n`)
}

async function currentOf (store: SecretStore, integration: string): Promise<number | undefined> {
  return await store.currentVersion(integration).catch(() => undefined)
}

function parseVersion (text: string): number {
  const version = Number(text)
  if (!Number.isInteger(version) || version < 1) throw new UsageError(`--to needs a version number (1, 2, ...), not "${text}"`)
  return version
}

function never (): never {
  throw new Error('integration vanished from the config')
}
