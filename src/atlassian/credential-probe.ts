/**
 * The one credential verifier. Everything that stores a credential asks it first (init, `secrets put|rotate|rollback`,
 * the admin API, all through credentials/credential-writer.ts), so a credential gets the same verdict wherever it is
 * checked (issue 23: `init` and `secrets rotate` had two probes with opposite verdicts).
 *
 * The probe: an OAuth credential does one client-credentials exchange, then one read through the gateway with the token
 * just minted (thrown away after: tokens minted from the old secret stay in use until they expire or fail); a scoped
 * API token does the read only. The read is CREDENTIAL_PROBES below: per product, the cheapest authenticated "who am I"
 * call, which reads no content and needs one classic user-read scope (Atlassian recommends classic scopes).
 *
 * The verdict, decided on purpose:
 * - the token endpoint refuses the pair (access_denied, invalid_client, ...: token-endpoint.ts): refused.
 * - the read answers 2xx: accepted.
 * - 401 "Unauthorized; scope does not match", or 403: accepted, with a warning naming the missing scope (or the missing
 *   product permission). The gateway checks scopes only on a token it recognised, so the credential itself works: the
 *   exchange succeeded, or the API token authenticated. Scopes are fixed when a credential is created and an
 *   integration's callers may need none of the probe's scope, so refusing would block a credential that serves them.
 * - any other 401 (Atlassian's bad or revoked credential: "Unauthorized" without the scope clause): refused.
 * - 404: the configured cloudId does not answer; the config is wrong, not the credential (StateConflictError).
 * - anything else (429, 5xx, no answer in time): Atlassian unavailable; nothing is stored, try again.
 * Gateway shapes: docs/reference/atlassian.md §4 (missing scope -> 401 "scope does not match"; bad or revoked
 * credential -> 401 without it; no product permission -> 403); scope-mismatch.ts detects the clause, as jira.js does.
 * Refusals become CredentialVerificationFailedError (422); messages never quote a credential value.
 */
import type { Dispatcher } from 'undici'
import { readBounded } from './bounded-body.js'
import { request } from './undici-parts.js'
import type { IntegrationConfig } from '../config/schema.js'
import {
  CredentialRejectedError, CredentialVerificationFailedError, errorCode, StateConflictError, UpstreamTimeoutError,
  UpstreamUnavailableError
} from '../errors.js'
import type { CredentialData } from '../secrets/secret-store.js'
import { apiTokenAuthorization } from './api-token.js'
import { firstCallHint } from './first-call.js'
import { isScopeMismatch, SCOPE_MISMATCH_READ_BYTES } from './scope-mismatch.js'
import { exchangeClientCredentials, type ExchangedToken, type ExchangeRequest } from './token-endpoint.js'

type Product = IntegrationConfig['product']

/** Per product: the read that proves a credential works, and the classic scope it needs. */
export const CREDENTIAL_PROBES: Readonly<Record<Product, { path: string, scope: string }>> = {
  jira: { path: '/rest/api/3/myself', scope: 'read:jira-user' },
  confluence: { path: '/wiki/rest/api/user/current', scope: 'read:confluence-user' }
}

/** What the verifier learnt about a credential Atlassian accepted. Holds no credential value. */
export interface CredentialCheck {
  credential: IntegrationConfig['credential']
  /** `expires_in` of the token the exchange issued (OAuth only). */
  tokenLifetimeSeconds?: number
  probe: { path: string, status: number }
  /** Accepted, but short of the probe's scope or of a product permission: what the operator should know. */
  warning?: string
}

/** Resolves when Atlassian accepts the credential; throws CredentialVerificationFailedError when it refuses it. */
export type CredentialVerifier = (
  integration: string,
  config: IntegrationConfig,
  data: CredentialData
) => Promise<CredentialCheck>

export type ProbeVerdict =
  | { verdict: 'accepted', warning?: string }
  | { verdict: 'refused', reason: string }
  | { verdict: 'wrong-cloud-id' }
  | { verdict: 'unavailable', reason: string }

/** The verdict on the probe read's answer (see the header for why each status means what it does). */
export function probeVerdict (product: Product, answer: { status: number, body: string }): ProbeVerdict {
  const { path, scope } = CREDENTIAL_PROBES[product]
  const { status } = answer
  if (status >= 200 && status < 300) return { verdict: 'accepted' }
  if (isScopeMismatch(status, answer.body)) {
    return {
      verdict: 'accepted',
      warning: `GET ${path} answered 401 "scope does not match": Atlassian accepted the credential, but it lacks the scope ${scope} (or its granular set); ` +
        'calls that need it will be refused, and scopes are fixed when a credential is created'
    }
  }
  if (status === 403) {
    return {
      verdict: 'accepted',
      warning: `GET ${path} answered 403: Atlassian accepted the credential, but the service account has no permission in ${product}; add it to a group or project role`
    }
  }
  if (status === 401) return { verdict: 'refused', reason: `GET ${path} answered 401: Atlassian does not accept the credential (unknown, revoked or expired, or the email does not match the token)` }
  if (status === 404) return { verdict: 'wrong-cloud-id' }
  return { verdict: 'unavailable', reason: `GET ${path} answered ${status}` }
}

export interface VerifierOptions {
  tokenUrl: string
  apiUrl: string
  timeoutMs: number
  exchange?: (input: ExchangeRequest) => Promise<ExchangedToken>
  /** For the gateway read (the forwarder's dispatcher when tests or benchmarks set one). */
  apiDispatcher?: Dispatcher
}

export function createCredentialVerifier (options: VerifierOptions): CredentialVerifier {
  const exchange = options.exchange ?? exchangeClientCredentials
  return async (integration, config, data) => {
    let authorization: string
    let tokenLifetimeSeconds: number | undefined
    if (config.credential === 'oauth') {
      try {
        const token = await exchange({ tokenUrl: options.tokenUrl, clientId: data.client_id ?? '', clientSecret: data.client_secret ?? '', timeoutMs: options.timeoutMs })
        authorization = `Bearer ${token.accessToken}`
        tokenLifetimeSeconds = token.expiresIn
      } catch (error) {
        if (error instanceof CredentialRejectedError) {
          throw new CredentialVerificationFailedError(
            'the token endpoint refused the client_id/client_secret pair; check client_id/client_secret (Admin → Directory → Service accounts → Credentials; ' +
              'a secret cannot be shown again: create a new one if unsure)',
            { cause: error }
          )
        }
        throw error
      }
    } else {
      authorization = apiTokenAuthorization(data)
    }
    const answer = await read(options, config, authorization)
    const verdict = probeVerdict(config.product, answer)
    const path = CREDENTIAL_PROBES[config.product].path
    switch (verdict.verdict) {
      case 'accepted':
        return {
          credential: config.credential,
          ...(tokenLifetimeSeconds === undefined ? {} : { tokenLifetimeSeconds }),
          probe: { path, status: answer.status },
          ...(verdict.warning === undefined ? {} : { warning: verdict.warning })
        }
      case 'refused': throw new CredentialVerificationFailedError(verdict.reason)
      case 'wrong-cloud-id': throw new StateConflictError(firstCallHint(integration, config, 404))
      case 'unavailable': throw new UpstreamUnavailableError({ cause: new Error(verdict.reason) })
    }
  }
}

async function read (
  options: VerifierOptions,
  config: IntegrationConfig,
  authorization: string
): Promise<{ status: number, body: string }> {
  const base = options.apiUrl.replace(/\/$/, '')
  const url = `${base}/ex/${config.product}/${config.cloudId}${CREDENTIAL_PROBES[config.product].path}`
  let response: Dispatcher.ResponseData
  try {
    response = await request(url, {
      method: 'GET',
      headers: { authorization, accept: 'application/json' },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      signal: AbortSignal.timeout(options.timeoutMs),
      ...(options.apiDispatcher ? { dispatcher: options.apiDispatcher } : {})
    })
  } catch (error) {
    const name = (error as Error).name
    if (name === 'TimeoutError' || name === 'AbortError' || errorCode(error)?.includes('TIMEOUT') === true) { throw new UpstreamTimeoutError() }
    throw new UpstreamUnavailableError({ cause: new Error(`${name} ${errorCode(error) ?? ''}`.trim()) })
  }
  // Only the start is read: enough for the scope clause, and a large error page is not worth holding.
  const body = (await readBounded(response.body, SCOPE_MISMATCH_READ_BYTES).catch(() => ({ text: '' }))).text
  return { status: response.statusCode, body }
}
