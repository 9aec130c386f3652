/** The login method the config names. */
import type { Logger } from 'pino'
import type { VaultConfig } from '../../../config/schema.js'
import { appRoleLogin } from './approle.js'
import { kubernetesLogin } from './kubernetes.js'
import type { LoginMethod } from './login-method.js'
import { givenToken } from './token.js'

export function createLoginMethod (auth: VaultConfig['auth'], log: Logger): LoginMethod {
  switch (auth.method) {
    case 'approle': return appRoleLogin(auth, log)
    case 'kubernetes': return kubernetesLogin(auth, log)
    case 'token': return givenToken(auth)
  }
}
