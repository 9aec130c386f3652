/**
 * The Vault store's behaviour as one suite that runs against any Vault API: the fake (test/helpers/fake-vault.ts, via
 * vault-store.test.ts) and a real `vault server -dev` (test/vault-real/). Only what a real server can do goes here;
 * fault switches (sealed, down, slow, revocation timing) stay in the fake-only tests.
 *
 * A target gives an address, a root token for side-writes, and an AppRole whose tokens carry the deploy/vault policies
 * rendered for the case's mount and prefix (`renderBrokerPolicies`), so the policies the operators load are the ones
 * tested.
 */
import { readFileSync } from 'node:fs'
import { Writable } from 'node:stream'
import { inspect } from 'node:util'
import NodeVault from 'node-vault'
import { pino, type Logger } from 'pino'
import type tap from 'tap'
import type { Clock } from '../../src/clock.js'
import type { VaultConfig } from '../../src/config/schema.js'
import { REASON_MAX_CHARACTERS } from '../../src/credentials/change-reason.js'
import { createVaultStore, REASONS_KEPT, type VaultSecretStore } from '../../src/secrets/vault/vault-store.js'

export type TapTest = Parameters<Parameters<typeof tap.test>[0]>[0]

export interface VaultStoreTarget {
  /** Shown in test names, e.g. "fake" or "vault 1.15.0". */
  name: string
  address: string
  rootToken: string
  /** A KV version 2 mount (`secret` on a dev server). */
  mount: string
  /** An AppRole (mount `approle`) whose tokens carry broker-policy.hcl and broker-rotator-policy.hcl for mount +
   * prefix. */
  setupAppRole(options: {
    prefix: string
    tokenTtlSeconds?: number
    tokenMaxTtlSeconds?: number
  }): Promise<{ roleId: string, secretId: string }>
  /** The clock the target's Vault runs on, when it is not the system's (the fake's ManualClock). */
  clock?: Clock
}

/** deploy/vault/*.hcl with the default mount ("secret") and prefix ("atlassian-broker") replaced. */
export function renderBrokerPolicies (options: { mount: string, prefix: string }): { broker: string, rotator: string } {
  const render = (file: string): string => readFileSync(new URL(`../../deploy/vault/${file}`, import.meta.url), 'utf8')
    .replace(/"secret\/(data|metadata)\/atlassian-broker/g, `"${options.mount}/$1/${options.prefix}`)
  return { broker: render('broker-policy.hcl'), rotator: render('broker-rotator-policy.hcl') }
}

/** A pino logger writing into memory, so a test can read every line the code logged. */
export function captureLogger (): { logger: Logger, text: () => string } {
  const chunks: string[] = []
  const stream = new Writable({ write (chunk: Buffer, _encoding, done) { chunks.push(chunk.toString('utf8')); done() } })
  return { logger: pino({ level: 'trace' }, stream), text: () => chunks.join('') }
}

/** Everything an error shows when logged or inspected, cause chain included. */
export const errorText = (error: unknown): string => `${String(error)}\n${inspect(error, { depth: 8 })}\n${JSON.stringify(error)}`

/** Asserts that no secret and no Vault service token (hvs.…) appears in the texts. */
export function assertNoSecrets (t: TapTest, texts: string[], secrets: string[]): void {
  const all = texts.join('\n')
  for (const secret of secrets) t.notOk(all.includes(secret), `a secret (${secret.length} chars) does not leak`)
  t.notMatch(all, /hvs\.[A-Za-z0-9_-]{8,}/, 'no Vault token leaks')
}

export function rootClient (target: VaultStoreTarget): NodeVault.client {
  return NodeVault({
    endpoint: target.address,
    token: target.rootToken,
    noCustomHTTPVerbs: true,
    requestOptions: { timeout: 5_000 }
  })
}

/** Deletes every key under a metadata folder (all versions), so a real server is left as found. */
async function removeTree (root: NodeVault.client, folder: string): Promise<void> {
  const keys = await root.list(folder).then(
    (answer: { data: { keys: string[] } }) => answer.data.keys,
    () => [] as string[]
  )
  for (const key of keys) {
    if (key.endsWith('/')) await removeTree(root, `${folder}${key}`)
    else await root.delete(`${folder}${key}`).catch(() => undefined)
  }
}

const uniquePrefix = (): string => `abt-${Math.random().toString(36).slice(2, 10)}`

export interface Opened {
  store: VaultSecretStore
  prefix: string
  logger: Logger
  logs: () => string
  secrets: string[]
  root: NodeVault.client
}

/** A Vault store on a fresh prefix with its own AppRole, removed with everything under it when the test ends. */
export async function openVaultStore (t: TapTest, target: VaultStoreTarget): Promise<Opened> {
  const prefix = uniquePrefix()
  const { roleId, secretId } = await target.setupAppRole({ prefix })
  const { logger, text } = captureLogger()
  const config: VaultConfig = {
    address: target.address,
    mount: target.mount,
    prefix,
    revalidateSeconds: 30,
    requestTimeoutMs: 5_000,
    auth: { method: 'approle', roleId, secretId, mountPath: 'approle' }
  }
  const store = await createVaultStore({
    config,
    logger,
    ...(target.clock ? { clock: target.clock } : {}),
    random: () => 0
  })
  const root = rootClient(target)
  t.teardown(async () => {
    await store.close()
    await removeTree(root, `${target.mount}/metadata/${prefix}/`)
  })
  return { store, prefix, logger, logs: text, secrets: [secretId], root }
}

export async function runVaultStoreCases (t: TapTest, target: VaultStoreTarget): Promise<void> {
  await t.test(`${target.name}: put, get and versions round-trip`, async (t) => {
    const { store, logs, secrets } = await openVaultStore(t, target)
    t.same(await store.put('jira-prod', { client_id: 'id-1', client_secret: 'first-secret-value' }, { cas: 0, metadata: { rotated_by: 'alice', owner: 'team-a' } }), { version: 1 })
    t.same(await store.put('jira-prod', { client_id: 'id-1', client_secret: 'second-secret-value' }, { cas: 1, metadata: { rotated_by: 'bob' } }), { version: 2 })
    const current = await store.get('jira-prod')
    t.equal(current?.version, 2)
    t.same(current?.data, { client_id: 'id-1', client_secret: 'second-secret-value' })
    t.equal(current?.integration, 'jira-prod')
    t.ok(Number.isFinite(Date.parse(current?.createdAt ?? '')), 'createdAt is an ISO time')
    t.same((await store.get('jira-prod', 1))?.data, { client_id: 'id-1', client_secret: 'first-secret-value' })
    t.equal(await store.currentVersion('jira-prod'), 2)
    t.same(await store.metadata('jira-prod'), { rotated_by: 'bob', owner: 'team-a' })
    const history = await store.history('jira-prod')
    t.same(history.map(({ version, readable, writtenBy }) => ({ version, readable, writtenBy })), [
      { version: 1, readable: true, writtenBy: 'alice' },
      { version: 2, readable: true, writtenBy: 'bob' }
    ])
    assertNoSecrets(t, [logs()], [...secrets, 'first-secret-value', 'second-secret-value'])
  })

  await t.test(`${target.name}: a check-and-set mismatch is a 409 conflict and writes nothing`, async (t) => {
    const { store, logs, secrets } = await openVaultStore(t, target)
    await store.put('confluence', { token: 'token-value-1' }, { cas: 0 })
    const errors: unknown[] = []
    for (const cas of [0, 5]) {
      const error = await store.put('confluence', { token: 'token-value-2' }, { cas }).catch((caught: unknown) => caught)
      errors.push(error)
      t.match(error, { code: 'BROKER_ERR_SECRET_VERSION_CONFLICT', statusCode: 409 }, `cas ${cas} conflicts`)
    }
    t.equal(await store.currentVersion('confluence'), 1, 'no version was added')
    t.same((await store.get('confluence'))?.data, { token: 'token-value-1' })
    assertNoSecrets(t, [logs(), ...errors.map(errorText)], [...secrets, 'token-value-1', 'token-value-2'])
  })

  await t.test(`${target.name}: what does not exist reads as undefined`, async (t) => {
    const { store } = await openVaultStore(t, target)
    t.equal(await store.get('nothing-here'), undefined)
    t.equal(await store.currentVersion('nothing-here'), undefined)
    t.equal(await store.metadata('nothing-here'), undefined)
    t.same(await store.history('nothing-here'), [])
    t.same(await store.list(), [], 'an empty prefix lists nothing (Vault answers 404)')
    await store.put('present', { token: 'v' })
    t.equal(await store.get('present', 7), undefined, 'a version never written')
    await t.rejects(store.updateMetadata('nothing-here', { owner: 'x' }), { code: 'BROKER_ERR_SECRET_VERSION_NOT_FOUND' })
  })

  await t.test(`${target.name}: list names the integrations under the prefix with their metadata`, async (t) => {
    const { store, prefix, root } = await openVaultStore(t, target)
    await store.put('jira-b', { token: 'b' }, { metadata: { owner: 'team-b' } })
    await store.put('jira-a', { token: 'a' }, { metadata: { owner: 'team-a', expires_at: '2027-01-01T00:00:00Z' } })
    await store.put('jira-a', { token: 'a2' }, { cas: 1 })
    // A sub-folder someone else wrote is not an integration.
    await root.write(`${target.mount}/data/${prefix}/nested/deeper`, { data: { token: 'z' } })
    const summaries = await store.list()
    t.same(summaries.map(({ integration, currentVersion, metadata }) => ({ integration, currentVersion, metadata })), [
      { integration: 'jira-a', currentVersion: 2, metadata: { owner: 'team-a', expires_at: '2027-01-01T00:00:00Z' } },
      { integration: 'jira-b', currentVersion: 1, metadata: { owner: 'team-b' } }
    ])
    for (const summary of summaries) t.ok(Date.parse(summary.updatedAt) >= Date.parse(summary.createdAt), 'times are ISO and ordered')
  })

  await t.test(`${target.name}: updateMetadata merges (PATCH) and keeps keys other tools set`, async (t) => {
    const { store, prefix, root } = await openVaultStore(t, target)
    await store.put('jira-prod', { token: 't' }, { metadata: { owner: 'team-a' } })
    await root.update(`${target.mount}/metadata/${prefix}/jira-prod`, { custom_metadata: { cost_center: 'cc-42' } })
    await store.updateMetadata('jira-prod', { expires_at: '2027-06-01T00:00:00Z', rotated_at: '2026-11-23T12:00:00Z' })
    t.same(await store.metadata('jira-prod'), { owner: 'team-a', expires_at: '2027-06-01T00:00:00Z', rotated_at: '2026-11-23T12:00:00Z' })
    const raw = await root.read(`${target.mount}/metadata/${prefix}/jira-prod`) as { data: { custom_metadata: Record<string, string> } }
    t.equal(raw.data.custom_metadata.cost_center, 'cc-42', 'a key the broker does not know survives')
    await store.updateMetadata('jira-prod', { owner: '' })
    t.same(await store.metadata('jira-prod'), { expires_at: '2027-06-01T00:00:00Z', rotated_at: '2026-11-23T12:00:00Z' }, 'an empty value removes the key')
  })

  await t.test(`${target.name}: each version keeps why it was written; reasons of the newest ${REASONS_KEPT} only`, async (t) => {
    const { store, prefix, root } = await openVaultStore(t, target)
    const total = REASONS_KEPT + 2
    // Vault keeps 10 versions unless told otherwise; more here, so reasons are dropped while their versions remain.
    await root.write(`${target.mount}/metadata/${prefix}/jira-prod`, { max_versions: total + 5 })
    // The newest: the longest reason accepted, all 4-byte characters: exactly Vault's 512-byte limit for one value.
    const given = (version: number): string | undefined => version === 5
      ? undefined
      : version === total ? '😀'.repeat(REASON_MAX_CHARACTERS) : `INC-${version}: rotated after a leak ✓`
    for (let version = 1; version <= total; version++) {
      const reason = given(version) === undefined ? {} : { reason: given(version) }
      await store.put('jira-prod', { token: `t-${version}` }, { cas: version - 1, metadata: { rotated_by: 'alice' }, ...reason })
    }
    const history = await store.history('jira-prod')
    t.same(history.map(({ version, reason }) => ({ version, reason })), Array.from({ length: total }, (_, index) => ({
      version: index + 1,
      reason: index + 1 > total - REASONS_KEPT ? given(index + 1) : undefined
    })), 'the reason of each of the newest versions, none for older ones nor for the one written without')
    t.ok(history.every((entry) => entry.writtenBy === 'alice'), 'who is kept beside it')
    const raw = await root.read(`${target.mount}/metadata/${prefix}/jira-prod`) as { data: { custom_metadata: Record<string, string> } }
    const whyKeys = Object.keys(raw.data.custom_metadata).filter((key) => key.endsWith('_why')).sort()
    t.equal(whyKeys.length, REASONS_KEPT - 1, 'older reasons are removed from custom_metadata, which holds 64 keys at most')
    t.notOk('version_1_why' in raw.data.custom_metadata)
  })

  await t.test(`${target.name}: history marks deleted and destroyed versions unreadable`, async (t) => {
    const { store, prefix, root } = await openVaultStore(t, target)
    for (const [cas, value] of [[0, 'one'], [1, 'two'], [2, 'three']] as const) await store.put('jira-prod', { token: value }, { cas })
    await root.write(`${target.mount}/delete/${prefix}/jira-prod`, { versions: [1] })
    await root.write(`${target.mount}/destroy/${prefix}/jira-prod`, { versions: [2] })
    t.same((await store.history('jira-prod')).map(({ version, readable }) => ({ version, readable })), [
      { version: 1, readable: false }, { version: 2, readable: false }, { version: 3, readable: true }
    ])
    t.equal(await store.get('jira-prod', 1), undefined, 'a soft-deleted version reads as undefined (404 with an envelope)')
    t.equal(await store.get('jira-prod', 2), undefined, 'a destroyed version reads as undefined')
    t.equal((await store.get('jira-prod'))?.version, 3)
    await root.delete(`${target.mount}/data/${prefix}/jira-prod`)
    t.equal(await store.get('jira-prod'), undefined, 'a deleted current version reads as undefined')
    t.equal(await store.currentVersion('jira-prod'), 3, 'currentVersion still names it')
  })

  await t.test(`${target.name}: health is ok, and neither logs nor the store object show a secret`, async (t) => {
    const { store, logs, secrets } = await openVaultStore(t, target)
    t.same(await store.health(), { ok: true, detail: 'ok' })
    t.match(store.session.state(), { method: 'approle', authenticated: true, renewable: true, logins: 1 })
    assertNoSecrets(t, [logs(), inspect(store, { depth: 8 }), JSON.stringify(store)], secrets)
  })
}
