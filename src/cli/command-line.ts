/** The `atlassian-broker` command line (src/cli/main.ts turns the compile cache on, then imports this). */
import { userInfo } from 'node:os'
import { parseArgs } from 'node:util'
import { ConfigError, loadConfig } from '../config/load.js'
import { createLogger } from '../logger.js'
import { closeOnSignals, startServer } from '../server.js'
import { endQuietlyOnClosedStdout, ignoreClosedStdout, parseDuration, UsageError } from './io.js'
import { errorCode, isBrokerError } from '../errors.js'
import { flushCompileCache } from './compile-cache.js'
import { settleHeapSoon } from './settle-heap.js'

const HELP = `Usage: atlassian-broker <command> [options]

Commands:
  serve [--config FILE] [--host H] [--port N]  run the broker
  secrets put INTEGRATION [--expires-at DATE] [--owner TEAM] [--reason TEXT] [--no-verify]
                                               verify a credential (JSON on stdin) with Atlassian, then store it
  secrets list [--json]                        integrations, versions, expiry; never values
  secrets rotate INTEGRATION [--expires-at DATE] [--owner TEAM] [--reason TEXT] [--no-verify]
                                               verify a new credential (JSON on stdin) with Atlassian,
                                               then store it as a new version (check-and-set)
  secrets rollback INTEGRATION [--to VERSION] [--reason TEXT] [--no-verify]
                                               make an older version's credential current again (verified first)
  secrets history INTEGRATION [--json]         versions, who wrote them, when and why; never values
  init --integration NAME --site SITE --product jira|confluence [--credential oauth|api-token] [--caller SUB] [--reason TEXT] [--no-verify]
                                               add an integration: look its cloudId up, verify the credential
                                               (JSON on stdin, or asked for in a terminal), write the config,
                                               store the credential, print a caller token and a curl line

put, rotate, rollback and init write through one path: verified with Atlassian (one token exchange for OAuth, then
one read: Jira GET /rest/api/3/myself, Confluence GET /wiki/rest/api/user/current), check-and-set, one record in
callers.admin.auditFile, and in fleet mode announced through Redis. A credential that authenticates but lacks the
read's scope or a product permission is stored with a warning; one Atlassian refuses is not stored (exit 1).
--no-verify stores a credential Atlassian cannot check yet, without asking it. --reason says why (one line, at most
128 characters, never a secret): kept with the new version (secrets history) and in the audit record.
  reload                                       reload the running broker's integrations and policy (the pid it
                                               wrote to dataDir/broker.pid gets a SIGHUP)
  check [--offline]                            validate the config; unless offline, also reach the secret store,
                                               the caller JWKS and the token endpoint
  caller-token --sub CALLER [--ttl 1h] [--role ROLE]
                                               print an HS256 caller JWT for local use
  mcp-stdio --url BROKER_URL --token-file FILE bridge an MCP client that speaks only stdio to the broker's /mcp
                                               (the caller JWT is re-read from FILE for every request)

Every command takes --config FILE (default: $BROKER_CONFIG, else ./atlassian-broker.yaml when present, else built-in defaults).
`

const OPTIONS = {
  config: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  sub: { type: 'string' },
  ttl: { type: 'string' },
  role: { type: 'string', multiple: true },
  'expires-at': { type: 'string' },
  owner: { type: 'string' },
  reason: { type: 'string' },
  to: { type: 'string' },
  json: { type: 'boolean' },
  offline: { type: 'boolean' },
  integration: { type: 'string' },
  site: { type: 'string' },
  product: { type: 'string' },
  credential: { type: 'string' },
  caller: { type: 'string' },
  url: { type: 'string' },
  'token-file': { type: 'string' },
  // node:util parseArgs has no --no-* negation before Node 22.4, and engines still allow 20
  'no-verify': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' }
} as const

export async function main (argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true })
  const [command, subcommand, target] = positionals
  // serve logs to stdout and must not stop when a log reader goes away; every other command answers there.
  if (command === 'init') ignoreClosedStdout()
  else if (command !== 'serve') endQuietlyOnClosedStdout()
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(HELP)
    return 0
  }
  // check reports config problems itself, so it runs before loadConfig would throw on them
  if (command === 'check') {
    const { runCheck } = await import('./check-command.js')
    return (await runCheck(values.config, { offline: values.offline === true })) ? 0 : 1
  }
  if (command === 'mcp-stdio') {
    // Needs no config: the broker it talks to has one. stdout carries the MCP protocol and nothing else.
    const { runMcpStdio } = await import('./mcp-stdio.js')
    await runMcpStdio({ url: values.url, tokenFile: values['token-file'] })
    return 0
  }
  if (command === 'init') {
    // Every command is imported on use: `serve` loads none of them (a sidecar's start-up time and memory).
    const { runInit } = await import('./init-command.js')
    const flags = {
      config: values.config,
      integration: values.integration,
      site: values.site,
      product: values.product,
      credential: values.credential,
      caller: values.caller,
      ...(values.reason === undefined ? {} : { reason: values.reason }),
      ...(values['no-verify'] === true ? { verify: false } : {})
    }
    await runInit(flags, { logger: createLogger({ level: 'warn', destination: process.stderr }), actor: `${userInfo().username}@cli` })
    return 0
  }
  const loaded = loadConfig(values.config)
  if (command === 'reload') {
    const { reloadRunningBroker } = await import('./reload-command.js')
    reloadRunningBroker(loaded.config.dataDir)
    return 0
  }
  if (command === 'serve') {
    const { config } = loaded
    const logger = createLogger({ level: config.logging.level })
    const listen = {
      host: values.host ?? config.listen.host,
      port: values.port !== undefined ? parsePort(values.port) : config.listen.port
    }
    const server = await startServer({ ...loaded, config: { ...config, listen } }, logger)
    closeOnSignals(server, logger, config.shutdownGraceMs)
    flushCompileCache()
    settleHeapSoon()
    return -1
  }
  // Commands other than serve keep stdout for their answer; logs go to stderr.
  const logger = createLogger({ level: 'warn', destination: process.stderr })
  const { resolveSites } = await import('../atlassian/site-resolver.js')
  const config = await resolveSites(loaded.config, { logger })
  const { listSecrets, writeSecret } = await import('./secrets-commands.js')
  const { rollbackSecret, secretHistory } = await import('./rotation-commands.js')
  const context = { config, logger, actor: `${userInfo().username}@cli` }
  const writeOptions = {
    ...(values['expires-at'] ? { expiresAt: values['expires-at'] } : {}),
    ...(values.owner ? { owner: values.owner } : {}),
    ...(values.reason === undefined ? {} : { reason: values.reason }),
    ...(values['no-verify'] === true ? { verify: false } : {})
  }
  if (command === 'secrets' && (subcommand === 'put' || subcommand === 'rotate')) {
    await writeSecret(context, subcommand, target, writeOptions)
    return 0
  }
  if (command === 'secrets' && subcommand === 'rollback') {
    const { expiresAt: _expiresAt, owner: _owner, ...rollbackOptions } = writeOptions
    await rollbackSecret(context, target, { ...(values.to === undefined ? {} : { to: values.to }), ...rollbackOptions })
    return 0
  }
  if (command === 'secrets' && subcommand === 'history') {
    await secretHistory(context, target, { json: values.json === true })
    return 0
  }
  if (command === 'secrets' && subcommand === 'list') {
    await listSecrets(context, { json: values.json === true })
    return 0
  }
  if (command === 'caller-token') {
    if (!values.sub) throw new UsageError('caller-token needs --sub CALLER')
    const { mintCallerToken } = await import('./caller-token.js')
    process.stdout.write(`${mintCallerToken(config, { sub: values.sub, ttlSeconds: parseDuration(values.ttl ?? '1h'), roles: values.role ?? [] })}\n`)
    return 0
  }
  throw new UsageError(`unknown command "${positionals.join(' ')}"; see --help`)
}

function parsePort (text: string): number {
  const port = Number(text)
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new UsageError(`--port must be 0 to 65535, not "${text}"`)
  return port
}

main(process.argv.slice(2)).then((code) => {
  if (code >= 0) process.exitCode = code
}, (error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`)
    process.exitCode = 2
  } else if (error instanceof UsageError || errorCode(error) === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    process.stderr.write(`atlassian-broker: ${(error as Error).message}\n`)
    process.exitCode = 2
  } else if (isBrokerError(error)) {
    process.stderr.write(`atlassian-broker: ${error.message} (${error.code})\n`)
    process.exitCode = 1
  } else {
    process.stderr.write(`atlassian-broker: ${(error as Error).message ?? String(error)}\n`)
    process.exitCode = 1
  }
})
