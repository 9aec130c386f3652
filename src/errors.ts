/**
 * Every error the broker answers with, each with a stable code. Callers and tests match on `code`.
 * Messages below 500 tell the caller how to fix the request; at 500 and above they stay generic and the
 * detail goes to the log (never a secret). openapi.yaml documents each code; a test keeps the two in step.
 */
import createError from '@fastify/error'

// 4xx: the caller can fix these
export const CallerUnauthenticatedError = createError('BROKER_ERR_CALLER_UNAUTHENTICATED', 'Caller authentication failed: %s', 401)
export const PolicyDeniedError = createError('BROKER_ERR_POLICY_DENIED', 'Policy denies %s', 403)
export const AdminForbiddenError = createError('BROKER_ERR_ADMIN_FORBIDDEN', 'Admin access needs a caller token with the admin role %s', 403)
export const AdminHostRefusedError = createError('BROKER_ERR_ADMIN_HOST_REFUSED', 'The admin listener does not answer to Host %s; use its bound address or localhost, or add the name to callers.admin.allowedHosts', 403)
export const CrossOriginRefusedError = createError('BROKER_ERR_CROSS_ORIGIN_REFUSED', 'The admin listener refuses requests a browser made for another origin (%s)', 403)
export const IntegrationNotFoundError = createError('BROKER_ERR_INTEGRATION_NOT_FOUND', 'Unknown integration "%s"', 404)
export const RouteNotFoundError = createError('BROKER_ERR_ROUTE_NOT_FOUND', 'No route %s %s', 404)
export const MethodNotAllowedError = createError('BROKER_ERR_METHOD_NOT_ALLOWED', 'Method %s is not allowed on %s; see the Allow header', 405)
export const PathRejectedError = createError('BROKER_ERR_PATH_REJECTED', 'Ambiguous or unsafe request path: %s', 400)
export const BadRequestError = createError('BROKER_ERR_BAD_REQUEST', 'Bad request: %s', 400)
export const CredentialInvalidError = createError('BROKER_ERR_CREDENTIAL_INVALID', 'Credential document is invalid: %s', 400)
export const ReasonInvalidError = createError('BROKER_ERR_REASON_INVALID', 'The reason for the change is not accepted: %s', 400)
export const SecretVersionNotFoundError = createError('BROKER_ERR_SECRET_VERSION_NOT_FOUND', 'No readable version %s of integration "%s"', 404)
export const SecretVersionConflictError = createError('BROKER_ERR_SECRET_VERSION_CONFLICT', 'Secret of "%s" changed concurrently (expected version %s); read it again and retry', 409)
export const StateConflictError = createError('BROKER_ERR_STATE_CONFLICT', 'The request is well formed but does not apply to this broker as configured: %s', 409)
export const CredentialVerificationFailedError = createError('BROKER_ERR_CREDENTIAL_VERIFICATION_FAILED', 'The new credential was refused by Atlassian and was not stored: %s', 422)
export const UnsupportedMediaTypeError = createError('BROKER_ERR_UNSUPPORTED_MEDIA_TYPE', 'An admin change takes a JSON object body with Content-Type: application/json (%s)', 415)
export const BodyTooLargeError = createError('BROKER_ERR_BODY_TOO_LARGE', 'Request body exceeds the configured limit of %s bytes', 413)
export const RequestBodyTimeoutError = createError('BROKER_ERR_REQUEST_BODY_TIMEOUT', 'The request body did not arrive in time: %s', 408)
export const HeadersTooLargeError = createError('BROKER_ERR_HEADERS_TOO_LARGE', 'Request headers exceed the configured limit', 431)
export const CallerRateLimitedError = createError('BROKER_ERR_CALLER_RATE_LIMITED', 'Rate limit for caller "%s" on integration "%s" exceeded; retry after the Retry-After delay', 429)
export const CallerQueueFullError = createError('BROKER_ERR_CALLER_QUEUE_FULL', 'Too many calls of caller "%s" are waiting for integration "%s"; retry after the Retry-After delay, or send fewer at once', 429)
export const CallerQueueTimeoutError = createError('BROKER_ERR_CALLER_QUEUE_TIMEOUT', 'The call of caller "%s" waited for a free seat of integration "%s" longer than %s ms; retry after the Retry-After delay', 429)
export const CallerPointsLimitedError = createError('BROKER_ERR_CALLER_POINTS_LIMITED', 'Points for caller "%s" on integration "%s" are spent for now (its share of the integration\'s pointsPerHour, or its rule\'s); retry after the Retry-After delay', 429)
export const UpstreamRateLimitedError = createError('BROKER_ERR_UPSTREAM_RATE_LIMITED', 'Atlassian quota for integration "%s" is exhausted; traffic is held until the reset time given in Retry-After', 429)

// 5xx: generic messages; the log has the detail
export const CredentialNotConfiguredError = createError('BROKER_ERR_CREDENTIAL_NOT_CONFIGURED', 'No credential is stored for this integration', 503)
export const CredentialRejectedError = createError('BROKER_ERR_CREDENTIAL_REJECTED', 'Atlassian rejected the integration\'s credential', 502)
export const TokenEndpointUnavailableError = createError('BROKER_ERR_TOKEN_ENDPOINT_UNAVAILABLE', 'The Atlassian token endpoint is unavailable', 503)
export const UpstreamUnavailableError = createError('BROKER_ERR_UPSTREAM_UNAVAILABLE', 'Atlassian could not be reached', 502)
export const UpstreamTimeoutError = createError('BROKER_ERR_UPSTREAM_TIMEOUT', 'Atlassian did not answer in time', 504)
export const SecretStoreUnavailableError = createError('BROKER_ERR_SECRET_STORE_UNAVAILABLE', 'The secret store is unavailable', 503)
export const SecretStoreDeniedError = createError('BROKER_ERR_SECRET_STORE_DENIED', 'The secret store refused the broker\'s request', 503)
export const NotReadyError = createError('BROKER_ERR_NOT_READY', 'The broker is not ready', 503)
export const InternalError = createError('BROKER_ERR_INTERNAL', 'Internal error', 500)

/**
 * The problem body every error answer carries (documented in openapi.yaml as `Problem`). `errorMessages` and `errors`
 * repeat it in Atlassian's ErrorCollection shape, which Atlassian's clients read (atlassian-python-api shows
 * "Unknown error" without them).
 */
export interface ProblemBody {
  statusCode: number
  code: string
  error: string
  message: string
  requestId: string
  errorMessages: [string]
  errors: Record<string, never>
}

/** Every code above, for the openapi.yaml consistency test and the README table. */
export const ERROR_CODES: readonly string[] = [
  CallerUnauthenticatedError,
  PolicyDeniedError,
  AdminForbiddenError,
  AdminHostRefusedError,
  CrossOriginRefusedError,
  IntegrationNotFoundError,
  RouteNotFoundError,
  MethodNotAllowedError,
  PathRejectedError,
  BadRequestError,
  CredentialInvalidError,
  ReasonInvalidError,
  SecretVersionNotFoundError,
  SecretVersionConflictError,
  StateConflictError,
  CredentialVerificationFailedError,
  UnsupportedMediaTypeError,
  BodyTooLargeError,
  RequestBodyTimeoutError,
  HeadersTooLargeError,
  CallerRateLimitedError,
  CallerPointsLimitedError,
  CallerQueueFullError,
  CallerQueueTimeoutError,
  UpstreamRateLimitedError,
  CredentialNotConfiguredError,
  CredentialRejectedError,
  TokenEndpointUnavailableError,
  UpstreamUnavailableError,
  UpstreamTimeoutError,
  SecretStoreUnavailableError,
  SecretStoreDeniedError,
  NotReadyError,
  InternalError
].map((ErrorClass) => new ErrorClass().code)

/** Marks an error whose answer should tell the caller when to come back (seconds). */
export function withRetryAfter<E extends Error> (error: E, seconds: number): E & { retryAfterSeconds: number } {
  return Object.assign(error, { retryAfterSeconds: Math.max(1, Math.ceil(seconds)) })
}

/** An error the broker made itself (any class above, or one carrying a `BROKER_ERR_*` code): safe to answer with. */
export interface BrokerError extends Error {
  code: string
  statusCode?: number
}

export function isBrokerError (error: unknown): error is BrokerError {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' && error.code.startsWith('BROKER_ERR_')
}

/** Any thrown value's string `code` (the broker's, Node's `ECONNRESET`, undici's `UND_ERR_*`, fastify's `FST_ERR_*`).
 */
export function errorCode (error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined
  return typeof error.code === 'string' ? error.code : undefined
}
