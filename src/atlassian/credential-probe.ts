/**
 * Verify before commit: a credential is tried against Atlassian before it is stored. OAuth credentials do one
 * client-credentials exchange at the token endpoint (the token is thrown away: tokens minted from the old secret stay
 * in use until they expire or fail). Scoped API tokens make one cheap authenticated call through the gateway: Jira
 * `GET /rest/api/3/myself`, Confluence `GET /wiki/rest/api/user/current`.
 * A refusal becomes CredentialVerificationFailedError (422); Atlassian being unreachable stays a 5xx, and nothing is
 * stored.
 */
import type { Dispatcher } from 'undici'
import { request } from './undici-parts.js'
import type { IntegrationConfig } from '../config/schema.js'
import { CredentialRejectedError, CredentialVerificationFailedError, errorCode, UpstreamTimeoutError, UpstreamUnavailableError } from '../errors.js'
import type { CredentialData } from '../secrets/secret-store.js'
import { exchangeClientCredentials, type ExchangedToken, type ExchangeRequest } from './token-endpoint.js'
import { apiTokenAuthorization } from './api-token.js'

/** Resolves when Atlassian accepts the credential; throws CredentialVerificationFailedError when it refuses it. */
export type CredentialVerifier = (integration: string, config: IntegrationConfig, data: CredentialData) => Promise<void>

export interface VerifierOptions {
  tokenUrl: string
  apiUrl: string
  timeoutMs: number
  exchange?: (input: ExchangeRequest) => Promise<ExchangedToken>
  /** For the API-token probe (the forwarder's dispatcher when tests or benchmarks set one). */
  apiDispatcher?: Dispatcher
}

const PROBE_PATH: Record<IntegrationConfig['product'], string> = {
  jira: '/rest/api/3/myself',
  confluence: '/wiki/rest/api/user/current'
}

export function createCredentialVerifier (options: VerifierOptions): CredentialVerifier {
  const exchange = options.exchange ?? exchangeClientCredentials
  return async (_integration, config, data) => {
    if (config.credential === 'oauth') {
      const clientId = data.client_id ?? ''
      const clientSecret = data.client_secret ?? ''
      try {
        await exchange({ tokenUrl: options.tokenUrl, clientId, clientSecret, timeoutMs: options.timeoutMs })
      } catch (error) {
        if (error instanceof CredentialRejectedError) throw new CredentialVerificationFailedError('the token endpoint rejected the client_id/client_secret pair', { cause: error })
        throw error
      }
      return
    }
    await probeApiToken(options, config, apiTokenAuthorization(data))
  }
}

async function probeApiToken (
  options: VerifierOptions,
  config: IntegrationConfig,
  authorization: string
): Promise<void> {
  const base = options.apiUrl.replace(/\/$/, '')
  const url = `${base}/ex/${config.product}/${config.cloudId}${PROBE_PATH[config.product]}`
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
  const text = await response.body.text().catch(() => '')
  const status = response.statusCode
  // Authenticated but short of a scope (gateway: 401 "scope does not match") or a permission (403): the token itself
  // works.
  if ((status >= 200 && status < 300) || status === 403 || (status === 401 && /scope does not match/i.test(text))) { return }
  if (status === 401) { throw new CredentialVerificationFailedError(`${PROBE_PATH[config.product]} answered 401 to the API token`) }
  throw new UpstreamUnavailableError({ cause: new Error(`${PROBE_PATH[config.product]} answered ${status}`) })
}
