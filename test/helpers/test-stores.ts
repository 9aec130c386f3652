/**
 * Both secret stores for tests that must hold for either: the embedded file store in a temp folder, and the Vault store
 * logged in by AppRole (with the deploy/vault policies) against the fake Vault on loopback.
 */
import type { Logger } from 'pino'
import { pino } from 'pino'
import type { Test } from 'tap'
import type { Clock } from '../../src/clock.js'
import type { VaultConfig } from '../../src/config/schema.js'
import { createFileStore } from '../../src/secrets/file/file-store.js'
import type { SecretStore } from '../../src/secrets/secret-store.js'
import { createVaultStore } from '../../src/secrets/vault/vault-store.js'
import { renderBrokerPolicies } from '../secrets/vault-store-cases.js'
import { MASTER_KEY } from './broker-harness.js'
import { FakeVault } from './fake-vault.js'

export type StoreKind = 'file' | 'vault'
export const STORE_KINDS: readonly StoreKind[] = ['file', 'vault']

export interface TestStore { store: SecretStore, fakeVault?: FakeVault }

/** A fake Vault with the broker's AppRole (deploy/vault policies) and the `secrets.vault` config that logs in to it.
 * Not closed here. */
export async function startBrokerVault (clock?: Clock): Promise<{ fakeVault: FakeVault, vaultConfig: VaultConfig }> {
  const fakeVault = await FakeVault.start(clock ? { clock } : {})
  const policies = renderBrokerPolicies({ mount: 'secret', prefix: 'atlassian-broker' })
  fakeVault.addPolicyHcl('atlassian-broker', policies.broker)
  fakeVault.addPolicyHcl('atlassian-broker-rotator', policies.rotator)
  const { roleId, secretId } = fakeVault.addAppRole({ name: 'broker', policies: ['atlassian-broker', 'atlassian-broker-rotator'], tokenTtl: 1_200, tokenMaxTtl: 14_400 })
  const vaultConfig: VaultConfig = {
    address: fakeVault.address,
    mount: 'secret',
    prefix: 'atlassian-broker',
    revalidateSeconds: 30,
    requestTimeoutMs: 2_000,
    auth: { method: 'approle', roleId, secretId, mountPath: 'approle' }
  }
  return { fakeVault, vaultConfig }
}

/** Opens a store of the given kind; it is closed with the test (closing twice is harmless). */
export async function openTestStore (
  t: Test,
  kind: StoreKind,
  options: { clock?: Clock, logger?: Logger, writtenBy?: string } = {}
): Promise<TestStore> {
  const logger = options.logger ?? pino({ level: 'silent' })
  if (kind === 'file') {
    const store = await createFileStore({
      path: `${t.testdir({})}/secrets.enc`,
      masterKey: MASTER_KEY,
      logger,
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.writtenBy ? { writtenBy: options.writtenBy } : {})
    })
    t.teardown(() => store.close())
    return { store }
  }
  const { fakeVault, vaultConfig } = await startBrokerVault(options.clock)
  const store = await createVaultStore({
    config: vaultConfig,
    logger,
    random: () => 0,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.writtenBy ? { writtenBy: options.writtenBy } : {})
  })
  t.teardown(async () => {
    await store.close()
    await fakeVault.close()
  })
  return { store, fakeVault }
}
