/**
 * The command line's side of the one credential write path (credentials/credential-writer.ts): `secrets put`, `init`,
 * `secrets rotate|rollback` each get a CredentialWriter over the configured store, the one verifier, the credential
 * audit file (`callers.admin.auditFile`) and, in fleet mode, an announcement through Redis (fleet/announce.ts, loaded
 * only then). Also the words every such command prints about the outcome.
 */
import type { Logger } from 'pino'
import type { CredentialCheck, CredentialVerifier } from '../atlassian/credential-probe.js'
import { systemClock } from '../clock.js'
import type { BrokerConfig } from '../config/schema.js'
import { CredentialWriter, credentialWriterParts, type WriteResult } from '../credentials/credential-writer.js'
import type { RotationResult } from '../credentials/rotation.js'
import { createSecretStore, revalidateMs } from '../secrets/create-secret-store.js'

export interface WriterContext {
  config: BrokerConfig
  logger: Logger
  /** Who runs the command, recorded as `rotated_by` and in the audit. */
  actor: string
  env?: NodeJS.ProcessEnv | undefined
  /** Tests swap the Atlassian check; default: the token endpoint and API gateway from config.atlassian. */
  verify?: CredentialVerifier | undefined
  /** Called when the credential has passed verification, just before it is written (init's InterruptGuard). */
  verified?: (() => void) | undefined
}

export async function withWriter<T> (
  context: WriterContext,
  use: (writer: CredentialWriter) => Promise<T>
): Promise<T> {
  const { config } = context
  // Failures are printed by main(); the audit's own log line would only repeat them on stderr.
  const parts = credentialWriterParts(config, { logger: context.logger.child({}, { level: 'error' }), clock: systemClock })
  const { audit } = parts
  const check = context.verify ?? parts.verify
  const verified = context.verified
  const verify: CredentialVerifier = verified === undefined
    ? check
    : async (...args) => {
      const result = await check(...args)
      verified()
      return result
    }
  const fleet = config.fleet
  const announce = fleet === undefined
    ? undefined
    : async (result: RotationResult): Promise<boolean> => {
      let cause = 'could not be reached'
      const { announceCredentialChange } = await import('../fleet/announce.js')
      if (await announceCredentialChange(fleet, result, `cli:${context.actor}`, (why) => { cause = why })) return true
      throw new Error(cause)
    }
  try {
    const store = await createSecretStore(config, {
      logger: context.logger,
      clock: systemClock,
      writtenBy: context.actor,
      ...(context.env === undefined ? {} : { env: context.env })
    })
    try {
      return await use(new CredentialWriter({ store, verify, audit, clock: systemClock, via: 'cli', announce }))
    } finally {
      await store.close()
    }
  } finally {
    await audit.close()
  }
}

/** "with one exchange at the token endpoint and one read (GET /rest/api/3/myself answered 200)" */
export function howVerified (check: CredentialCheck): string {
  const read = `one read (GET ${check.probe.path} answered ${check.probe.status})`
  return check.credential === 'oauth' ? `with one exchange at the token endpoint and ${read}` : `with ${read}`
}

/** After the write: where it went, whether the fleet heard, and what the operator should know. */
export function printOutcome (config: BrokerConfig, result: WriteResult, out: NodeJS.WritableStream, what = 'it'): void {
  const seconds = Math.round(revalidateMs(config) / 1000)
  const stored = `Stored ${what} as version ${result.newVersion}${result.oldVersion === undefined ? '' : ` (was ${result.oldVersion})`}. `
  out.write(result.announced === true
    ? `${stored}Told the fleet through Redis: every sidecar drops its token and uses the new version on its next call.\n`
    : `${stored}Running brokers use it for new token exchanges within ${seconds} s${result.announced === false ? ` (the fleet's Redis was not told: ${result.announceFailure ?? 'could not be reached'})` : ''}; ` +
      'tokens minted from older versions stay in use until they expire or Atlassian refuses them.\n')
  if (result.check?.warning !== undefined) out.write(`Warning: ${result.check.warning}\n`)
  if (result.check === undefined) out.write('Warning: not verified (--no-verify): Atlassian was not asked whether this credential works.\n')
  for (const note of result.notes) out.write(`Note: ${note}\n`)
}
