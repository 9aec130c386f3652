/**
 * Kubernetes login: the role and the pod's projected service-account token, re-read at each login (the kubelet rotates
 * it).
 */
import type { Logger } from 'pino'
import type { VaultConfig } from '../../../config/schema.js'
import { loginAt, readCredentialFile, type LoginMethod } from './login-method.js'

export type KubernetesAuth = Extract<VaultConfig['auth'], { method: 'kubernetes' }>

export function kubernetesLogin (auth: KubernetesAuth, log: Logger): LoginMethod {
  return {
    name: 'kubernetes',
    canLogInAgain: true,
    path: `auth/${auth.mountPath}/login`,
    refusalHint: 'check vault.auth.role and that the role binds this service account, namespace and audience',
    obtain: async (client) => await loginAt(client, auth.mountPath, {
      role: auth.role,
      jwt: await readCredentialFile(auth.jwtPath, 'vault.auth.jwtPath', log)
    })
  }
}
