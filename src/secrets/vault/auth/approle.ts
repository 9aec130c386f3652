/** AppRole login: the role id from the config, the secret id from the config or re-read from its file at each login. */
import type { Logger } from 'pino'
import type { VaultConfig } from '../../../config/schema.js'
import { loginAt, readCredentialFile, type LoginMethod } from './login-method.js'

export type AppRoleAuth = Extract<VaultConfig['auth'], { method: 'approle' }>

export function appRoleLogin (auth: AppRoleAuth, log: Logger): LoginMethod {
  return {
    name: 'approle',
    canLogInAgain: true,
    path: `auth/${auth.mountPath}/login`,
    refusalHint: 'check vault.auth.roleId and the secret id',
    obtain: async (client) => await loginAt(client, auth.mountPath, {
      role_id: auth.roleId,
      secret_id: auth.secretId ?? (await readCredentialFile(auth.secretIdFile ?? '', 'vault.auth.secretIdFile', log))
    })
  }
}
