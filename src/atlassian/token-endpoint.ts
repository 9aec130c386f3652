/**
 * The OAuth 2.0 client-credentials exchange at Atlassian's token endpoint
 * (support.atlassian.com: "Create OAuth 2.0 credential for service accounts"; JSON body, `expires_in` 3600,
 * no refresh token). Failures are translated here, once, into the broker's errors. Nothing secret reaches an
 * error message or cause: undici errors carry no request body, and the response body is summarised, never echoed.
 */
import type { Dispatcher } from 'undici'
import { parseRetryAfter } from './rate-limit-headers.js'
import { request } from './undici-parts.js'
import { CredentialRejectedError, errorCode, TokenEndpointUnavailableError, withRetryAfter } from '../errors.js'

export interface ExchangeRequest {
  tokenUrl: string
  clientId: string
  clientSecret: string
  timeoutMs: number
  dispatcher?: Dispatcher
}

export interface ExchangedToken {
  accessToken: string
  /** Seconds, clamped to a sane range. */
  expiresIn: number
  /** What was odd about the answer, for a log line ("expires_in missing", ...). */
  anomaly?: string
}

/** Atlassian documents 60 minutes; an answer without `expires_in` is assumed to follow that. */
export const DEFAULT_EXPIRES_IN = 3_600
const MIN_EXPIRES_IN = 30
const MAX_EXPIRES_IN = 86_400

/** OAuth error codes that mean "this credential is wrong or revoked" rather than "try again later" (RFC 6749 5.2). */
const REJECTION_CODES = new Set(['access_denied', 'invalid_client', 'unauthorized_client', 'invalid_grant'])

export async function exchangeClientCredentials (input: ExchangeRequest): Promise<ExchangedToken> {
  let response: Dispatcher.ResponseData
  try {
    response = await request(input.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ grant_type: 'client_credentials', client_id: input.clientId, client_secret: input.clientSecret }),
      headersTimeout: input.timeoutMs,
      bodyTimeout: input.timeoutMs,
      signal: AbortSignal.timeout(input.timeoutMs),
      ...(input.dispatcher ? { dispatcher: input.dispatcher } : {})
    })
  } catch (error) {
    throw withRetryAfter(new TokenEndpointUnavailableError({ cause: sanitizedCause(error) }), 1)
  }
  let body: unknown
  const text = await response.body.text().catch(() => '')
  try { body = JSON.parse(text) } catch { body = undefined }
  const oauthError = typeof body === 'object' && body !== null && typeof (body as { error?: unknown }).error === 'string'
    ? (body as { error: string }).error
    : undefined

  if (response.statusCode === 200 && typeof body === 'object' && body !== null) {
    const { access_token: accessToken, expires_in: expiresIn } = body as {
      access_token?: unknown
      expires_in?: unknown
    }
    if (typeof accessToken !== 'string' || accessToken === '') {
      throw withRetryAfter(new TokenEndpointUnavailableError({ cause: new Error('token response without access_token') }), 1)
    }
    return { accessToken, ...normalizeExpiresIn(expiresIn) }
  }
  if (oauthError !== undefined && REJECTION_CODES.has(oauthError)) {
    throw new CredentialRejectedError({ cause: new Error(`token endpoint answered ${response.statusCode} ${oauthError}`) })
  }
  // The code is logged as the cause: keep it to what an OAuth error code looks like (RFC 6749 section 5.2), never free
  // text.
  const code = oauthError !== undefined && /^[a-z_]{1,40}$/.test(oauthError) ? ` ${oauthError}` : oauthError !== undefined ? ' (unrecognised error code)' : ''
  const detail = response.statusCode === 200 ? 'token endpoint answered 200 with a body that is not JSON' : `token endpoint answered ${response.statusCode}${code}`
  // The one Retry-After parser: seconds or an HTTP date.
  const header = response.headers['retry-after']
  const waitMs = parseRetryAfter(Array.isArray(header) ? header[0] : header, Date.now())
  throw withRetryAfter(
    new TokenEndpointUnavailableError({ cause: new Error(detail) }),
    waitMs !== undefined && waitMs > 0 ? Math.ceil(waitMs / 1000) : 1
  )
}

function normalizeExpiresIn (value: unknown): { expiresIn: number, anomaly?: string } {
  if (value === undefined || value === null) return { expiresIn: DEFAULT_EXPIRES_IN, anomaly: 'expires_in missing; assuming 3600 s' }
  const seconds = typeof value === 'string' ? Number(value) : value
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return { expiresIn: DEFAULT_EXPIRES_IN, anomaly: 'expires_in not a number; assuming 3600 s' }
  if (seconds < MIN_EXPIRES_IN) return { expiresIn: MIN_EXPIRES_IN, anomaly: `expires_in ${seconds} below ${MIN_EXPIRES_IN} s; clamped` }
  if (seconds > MAX_EXPIRES_IN) return { expiresIn: MAX_EXPIRES_IN, anomaly: `expires_in ${seconds} above ${MAX_EXPIRES_IN} s; clamped` }
  return { expiresIn: Math.floor(seconds) }
}

/** Keeps an error's code and class name only: a message could quote a URL or header we never want logged. */
function sanitizedCause (error: unknown): Error {
  const code = errorCode(error)
  const sanitized = new Error(`${(error as Error).name ?? 'Error'}${typeof code === 'string' ? ` ${code}` : ''}`)
  if (typeof code === 'string') Object.assign(sanitized, { code })
  return sanitized
}
