/**
 * What `init` prints once everything is written: how the credential was checked and stored, a caller token, and the
 * next two commands, written so that they work where init ran (a clone has no `atlassian-broker` on its PATH) and so
 * that the token reaches curl through stdin, never through a command line another user can read in `ps` (issue 24 §6).
 */
import path from 'node:path'
import { CREDENTIAL_PROBES } from '../atlassian/credential-probe.js'
import { DEFAULT_CONFIG_FILE } from '../config/load.js'
import type { BrokerConfig } from '../config/schema.js'
import type { WriteResult } from '../credentials/credential-writer.js'
import type { InitEntry } from './init-config-file.js'

export function printStored (
  result: WriteResult & { storeKind?: string },
  name: string,
  out: NodeJS.WritableStream
): void {
  const { check } = result
  if (check === undefined) {
    out.write('! not verified (--no-verify): Atlassian was not asked whether this credential works\n')
  } else {
    if (check.tokenLifetimeSeconds !== undefined) { out.write(`✔ token exchange: Atlassian issued a token for ${check.tokenLifetimeSeconds} s\n`) }
    if (check.warning === undefined) {
      out.write(`✔ read: GET ${check.probe.path} answered ${check.probe.status}\n`)
      const product = check.probe.path.startsWith('/wiki/') ? 'confluence' : 'jira'
      out.write(
        `  scopes: Atlassian does not report a credential's scopes; this read proves ${CREDENTIAL_PROBES[product].scope} (or its granular set) is granted\n`
      )
    } else {
      out.write(`! read: ${check.warning}\n`)
    }
  }
  out.write(
    `✔ credential: stored for ${name} as version ${result.newVersion} in the ${result.storeKind ?? ''} store\n`
  )
  if (result.announced === true) out.write('✔ fleet: told through Redis\n')
}

/** The caller token, then how to start the broker and make the first call. */
export function printNextSteps (
  config: BrokerConfig,
  file: string,
  entry: InitEntry,
  token: string,
  out: NodeJS.WritableStream,
  env: NodeJS.ProcessEnv
): void {
  const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host
  const url = `http://${host}:${config.listen.port}/proxy/${entry.integration}${CREDENTIAL_PROBES[entry.product].path}`
  const mint = commandPrefix(env)
  out.write(`\nCaller token for ${entry.caller} (1 hour; \`${mint} caller-token --sub ${entry.caller}\` mints more):\n${token}\n\n`)
  out.write('Start (or reload) the broker, then call through it:\n')
  out.write(`  ${serveCommand(file, env)}\n`)
  // export and printf are shell builtins: the token goes into no process's argv; curl reads the header from stdin.
  out.write(`  export BROKER_TOKEN='${token}'\n`)
  out.write(`  printf 'Authorization: Bearer %s\\n' "$BROKER_TOKEN" | curl -sS -H @- ${url}\n`)
}

/** How to run this command line again, as it was run now: `npm run --silent cli --`, the installed binary, or node. */
function commandPrefix (env: NodeJS.ProcessEnv): string {
  if (env.npm_lifecycle_event === 'cli') return 'npm run --silent cli --'
  const script = process.argv[1] ?? ''
  if (path.basename(script).startsWith('atlassian-broker')) return 'atlassian-broker'
  return ['node', ...process.execArgv, path.relative(process.cwd(), script) || script].join(' ')
}

/** In a clone (run through `npm run cli`) that is `npm start`, which builds first; elsewhere the same executable. */
function serveCommand (file: string, env: NodeJS.ProcessEnv): string {
  const isDefault = file === path.resolve(DEFAULT_CONFIG_FILE)
  if (env.npm_lifecycle_event === 'cli') return isDefault ? 'npm start' : `npm start -- --config ${file}`
  return `${commandPrefix(env)} serve --config ${file}`
}
