/**
 * A broker on the Vault store: the fake Vault (AppRole login with the shipped broker policy, read-only), credentials
 * written with the root token as an operator would, the fake Atlassian, and one injected clock for all of them.
 */
import type { Test } from 'tap'
import type { VaultConfig } from '../../src/config/schema.js'
import { createVaultStore, type VaultSecretStore } from '../../src/secrets/vault/vault-store.js'
import { captureLogger, renderBrokerPolicies } from '../secrets/vault-store-cases.js'
import { CLIENT_ID, CLIENT_SECRET, startHarness, type Harness } from './broker-harness.js'
import { FakeVault } from './fake-vault.js'
import { ManualClock } from './manual-clock.js'

export interface VaultHarness {
  h: Harness
  vault: FakeVault
  clock: ManualClock
  store: VaultSecretStore
  /** Writes a credential version the way a platform team does (root token). */
  writeInVault: (integration: string, data: Record<string, string>) => Promise<void>
}

export async function vaultHarness (t: Test, requestTimeoutMs = 1_000): Promise<VaultHarness> {
  const clock = new ManualClock(Date.now())
  const vault = await FakeVault.start({ clock })
  t.teardown(() => vault.close())
  const policies = renderBrokerPolicies({ mount: 'secret', prefix: 'atlassian-broker' })
  vault.addPolicyHcl('atlassian-broker', policies.broker)
  const { roleId, secretId } = vault.addAppRole({ name: 'broker', policies: ['atlassian-broker'], tokenTtl: 1_200, tokenMaxTtl: 14_400 })
  const config: VaultConfig = {
    address: vault.address,
    mount: 'secret',
    prefix: 'atlassian-broker',
    revalidateSeconds: 30,
    requestTimeoutMs,
    auth: { method: 'approle', roleId, secretId, mountPath: 'approle' }
  }
  // Credentials are written with the root token, as an operator would; the broker's role may only read.
  const writer = await createVaultStore({ config: { ...config, auth: { method: 'token', token: vault.rootToken } }, logger: captureLogger().logger, clock })
  t.teardown(() => writer.close())
  const store = await createVaultStore({ config, logger: captureLogger().logger, clock, random: () => 0 })
  const h = await startHarness(t, { clock, store, empty: true, config: { secrets: { store: 'vault', vault: config } } })
  const writeInVault = async (integration: string, data: Record<string, string>): Promise<void> => {
    await writer.put(integration, data)
  }
  for (const integration of ['jira-main', 'wiki-main']) await writeInVault(integration, { client_id: CLIENT_ID, client_secret: CLIENT_SECRET })
  return { h, vault, clock, store, writeInVault }
}
