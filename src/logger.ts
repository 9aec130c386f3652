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

export function createLogger (options: { level: string, destination?: DestinationStream }): Logger {
  return pino({
    level: options.level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: 'atlassian-broker' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) }
  }, options.destination)
}
