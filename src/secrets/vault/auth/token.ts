/**
 * A given token: not a login but an adoption. The token is looked up (`GET auth/token/lookup-self`) for its remaining
 * TTL and whether it renews; it is renewed while it extends and never replaced: once dead, an operator must configure
 * a new one.
 */
import type { VaultConfig } from '../../../config/schema.js'
import type { LoginMethod } from './login-method.js'

export type TokenAuth = Extract<VaultConfig['auth'], { method: 'token' }>

export function givenToken (auth: TokenAuth): LoginMethod {
  return {
    name: 'token',
    canLogInAgain: false,
    path: 'auth/token/lookup-self',
    refusalHint: 'the configured token is invalid, expired or revoked',
    async obtain (client) {
      client.token = auth.token
      const response = (await client.read('auth/token/lookup-self')) as
        { data?: { ttl?: unknown, creation_ttl?: unknown, renewable?: unknown } } | undefined
      const ttlSeconds = Number(response?.data?.ttl ?? 0)
      return {
        token: auth.token,
        ttlSeconds,
        renewable: response?.data?.renewable === true,
        increment: Number(response?.data?.creation_ttl ?? ttlSeconds)
      }
    }
  }
}
