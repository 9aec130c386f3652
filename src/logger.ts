/**
 * The broker's pino logger. Secrets are hidden by configuration, not by remembering at each call site: every path
 * that could carry a credential, token or key is redacted, whatever the object that is logged.
 */
import { pino, type DestinationStream, type Logger } from 'pino'

const SECRET_KEYS = [
  'authorization', 'Authorization', 'client_secret', 'clientSecret', 'access_token', 'accessToken', 'token', 'secret',
  'secretId', 'secret_id', 'jwt', 'masterKey', 'master_key', 'password', 'hs256Secret', 'cookie', 'x-vault-token',
  'refresh_token', 'refreshToken', 'api_token', 'apiToken'
]

export const REDACT_PATHS = [
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((key) => `*.${key}`),
  ...SECRET_KEYS.map((key) => `*.*.${key}`),
  'req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'data.client_secret', 'data.token'
]

let isoMs = Number.NaN
let iso = ''

/** pino's isoTime without its Date and string per line: lines in the same millisecond share the string. */
function isoTime (): string {
  const now = Date.now()
  if (now !== isoMs) {
    isoMs = now
    iso = new Date(now).toISOString()
  }
  return iso
}

/** Loggers made by createLogger, whose line format accessLine writes itself. */
const ownFormat = new WeakSet<Logger>()

export function createLogger (options: { level: string, destination?: DestinationStream }): Logger {
  const logger = pino({
    level: options.level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: 'atlassian-broker' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) }
  }, options.destination)
  ownFormat.add(logger)
  return logger
}

/**
 * The access log's one line per request, at info, without pino's generic path (a merged object walked key by key,
 * each value through its serializer and redactor checks): the line is built from a prefix made once per field name
 * and the values in order, and written to the logger's own stream. The bytes are those of `logger.info(fields, msg)`
 * through createLogger's format: level label, ISO time, the logger's bindings, the fields in the order named
 * (undefined ones left out), then msg; strings escaped by JSON.stringify (pino's own escaper leaves a lone surrogate
 * raw; the parsed line is the same). The names are fixed and none is a secret's, so redaction has nothing to do:
 * one that is throws here. Another logger (a child, a test's pino) gets `logger.info` itself.
 */
export function accessLine (
  logger: Logger,
  names: readonly string[],
  msg: string
): (values: ReadonlyArray<string | number | undefined>) => void {
  const secret = names.find((name) => SECRET_KEYS.includes(name))
  if (secret !== undefined) throw new Error(`accessLine: "${secret}" is a secret's name; log it through pino's redaction`)
  if (!ownFormat.has(logger)) {
    return (values) => {
      const fields: Record<string, string | number | undefined> = {}
      names.forEach((name, index) => { fields[name] = values[index] })
      logger.info(fields, msg)
    }
  }
  const keys = names.map((name) => `,${JSON.stringify(name)}:`)
  const bindings = (logger as unknown as Record<symbol, string>)[pino.symbols.chindingsSym] ?? ''
  const end = `,"msg":${JSON.stringify(msg)}}\n`
  const stream = (logger as unknown as Record<symbol, { write: (line: string) => void }>)[pino.symbols.streamSym]
  return (values) => {
    if (!logger.isLevelEnabled('info')) return
    let line = `{"level":"info","time":"${isoTime()}"${bindings}`
    for (let index = 0; index < keys.length; index++) {
      const value = values[index]
      if (value === undefined) continue
      line += (keys[index] as string) + (typeof value === 'number' ? (Number.isFinite(value) ? String(value) : 'null') : JSON.stringify(value))
    }
    stream?.write(line + end)
  }
}
