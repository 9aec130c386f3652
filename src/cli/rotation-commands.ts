/**
 * `atlassian-broker secrets rotate|rollback|history`: rotation from the command line, through the one credential write
 * path (cli-writer.ts, credentials/credential-writer.ts): verified against Atlassian first (`rotate --no-verify`
 * skips that), written with check-and-set against the version read, one audit record per action in
 * `callers.admin.auditFile` when set, announced to the fleet. Values are never printed.
 */
import { systemClock } from '../clock.js'
import { daysUntil } from '../credentials/expiry.js'
import { credentialHistory } from '../credentials/rotation.js'
import { howVerified, printOutcome, withWriter, type WriterContext } from './cli-writer.js'
import { printTable, UsageError } from './io.js'
import { integrationConfig, withStore, type SecretsCommandContext } from './secrets-commands.js'

export interface RotationCommandContext extends SecretsCommandContext {
  /** Tests swap the Atlassian check; default: the token endpoint and API gateway from config.atlassian. */
  verify?: WriterContext['verify']
}

export async function rollbackSecret (
  context: RotationCommandContext,
  integration: string | undefined,
  options: { to?: string, reason?: string, verify?: boolean }
): Promise<void> {
  const target = integrationConfig(context.config, integration)
  const toVersion = options.to === undefined ? undefined : parseVersion(options.to)
  const result = await withWriter(context, (writer) => writer.rollback({
    integration: target.name,
    config: target.config,
    actor: context.actor,
    toVersion,
    reason: options.reason,
    verify: options.verify
  }))
  const out = context.stdout ?? process.stdout
  if (result.check !== undefined) out.write(`Verified the credential of version ${result.restoredVersion ?? '?'} of ${target.name} again ${howVerified(result.check)}.\n`)
  printOutcome(context.config, result, out)
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
  const days = metadata.expires_at === undefined ? undefined : daysUntil(metadata.expires_at, systemClock.now())
  out.write(
    `${target.name}: current version ${history.currentVersion ?? '-'}; last rotated ${metadata.rotated_at ?? '-'} by ${metadata.rotated_by ?? '-'}; ` +
      `expires ${metadata.expires_at ?? '-'}${days === undefined ? '' : ` (${days} days)`}; owner ${metadata.owner ?? '-'}\n`
  )
  printTable(
    history.versions.map((entry) => ({
      version: entry.version,
      created: entry.createdAt,
      writtenBy: entry.writtenBy,
      reason: entry.reason,
      readable: entry.readable ? 'yes' : 'no (pruned or deleted)',
      current: entry.version === history.currentVersion ? 'yes' : ''
    })),
    out
  )
}

function parseVersion (text: string): number {
  const version = Number(text)
  if (!Number.isInteger(version) || version < 1) throw new UsageError(`--to needs a version number (1, 2, ...), not "${text}"`)
  return version
}
