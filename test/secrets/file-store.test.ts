import { randomBytes } from 'node:crypto'
import * as fsPromises from 'node:fs/promises'
import { readFile, readdir, stat, utimes, writeFile } from 'node:fs/promises'
import path from 'node:path'
import pino from 'pino'
import t, { type Test } from 'tap'
import { keyId } from '../../src/secrets/file/master-key.js'
import { createFileStore, SecretFileError, type FileStoreOptions } from '../../src/secrets/file/file-store.js'
import { ManualClock } from '../helpers/manual-clock.js'

const OAUTH = { client_id: 'client-id-6f1c2a9e', client_secret: 'client-secret-PLAINTEXT-7d41b0' }
const HEX_KEY = 'a'.repeat(16) + '0123456789abcdef'.repeat(3)

function logs (): { logger: pino.Logger, lines: string[] } {
  const lines: string[] = []
  return { logger: pino({ level: 'trace' }, { write: (line: string) => { lines.push(line) } }), lines }
}

async function open (t: Test, options: Partial<FileStoreOptions> & { path: string }) {
  const store = await createFileStore({ logger: logs().logger, ...options })
  t.teardown(() => store.close())
  return store
}

function storePath (t: Test, files: Record<string, string> = {}): string {
  return path.join(t.testdir(files), 'data', 'secrets.enc')
}

t.test('round trip: a put is read back, and neither the file nor the log holds a secret', async (t) => {
  const file = storePath(t)
  const { logger, lines } = logs()
  const store = await open(t, { path: file, logger, clock: new ManualClock(), writtenBy: 'ops@example.com' })
  t.equal(store.kind, 'file')
  t.same(await store.put('jira-prod', OAUTH), { version: 1 })
  t.same(await store.get('jira-prod'), { integration: 'jira-prod', version: 1, data: OAUTH, createdAt: '2026-11-23T12:00:00.000Z' })
  t.equal(await store.currentVersion('jira-prod'), 1)
  t.equal(await store.currentVersion('confluence'), undefined)
  t.equal(await store.get('confluence'), undefined)
  t.equal(await store.get('constructor'), undefined, 'names are not looked up on Object.prototype')
  t.match(await store.list(), [{ integration: 'jira-prod', currentVersion: 1, metadata: {} }])

  const onDisk = await readFile(file, 'utf8')
  for (const plaintext of [OAUTH.client_secret, OAUTH.client_id, 'jira-prod', 'ops@example.com']) {
    t.notOk(onDisk.includes(plaintext), `the file does not contain ${plaintext}`)
  }
  t.ok(lines.some((line) => /"keyFingerprint":"[0-9a-f]{16}"/.test(line)), 'the key fingerprint is logged (at open, or when a new store is created)')
  t.notOk(lines.some((line) => line.includes(OAUTH.client_secret) || line.includes(OAUTH.client_id)), 'the log holds no credential')
  const envelope = JSON.parse(onDisk)
  t.match(envelope, { format: 'atlassian-broker/secrets', v: 1, kid: /^[0-9a-f]{16}$/, iv: String, tag: String, ciphertext: String })
  t.equal(Buffer.from(envelope.iv, 'base64').length, 12)
  t.equal(Buffer.from(envelope.tag, 'base64').length, 16)
  t.notOk('kdf' in envelope, 'a raw key needs no kdf')
})

t.test('every write uses a fresh IV', async (t) => {
  const file = storePath(t)
  const store = await open(t, { path: file })
  await store.put('jira', OAUTH)
  const first = JSON.parse(await readFile(file, 'utf8'))
  await store.updateMetadata('jira', { owner: 'team-a' })
  await store.updateMetadata('jira', { owner: 'team-a' })
  const second = JSON.parse(await readFile(file, 'utf8'))
  t.not(second.iv, first.iv)
})

t.test('a missing store file is an empty store, created on the first put', async (t) => {
  const file = storePath(t)
  const store = await open(t, { path: file })
  t.same(await store.list(), [])
  t.same(await store.history('jira'), [])
  t.equal(await store.metadata('jira'), undefined)
  t.same(await store.health(), { ok: true, detail: 'ok' })
  await t.rejects(stat(file), { code: 'ENOENT' })
  await store.put('jira', OAUTH)
  t.ok((await stat(file)).isFile())
})

t.test('store and key file are 0600, the folder 0700', async (t) => {
  const file = storePath(t)
  const store = await open(t, { path: file })
  t.equal(store.keySource, 'file')
  await store.put('jira', OAUTH)
  t.equal((await stat(file)).mode & 0o777, 0o600)
  t.equal((await stat(`${file}.key`)).mode & 0o777, 0o600)
  t.equal((await stat(path.dirname(file))).mode & 0o777, 0o700)
  t.same((await readdir(path.dirname(file))).sort(), ['secrets.enc', 'secrets.enc.key'], 'no temp file is left behind')
})

t.test('the key file is created once and reused', async (t) => {
  const file = storePath(t)
  const first = await createFileStore({ path: file, logger: logs().logger })
  await first.put('jira', OAUTH)
  await first.close()
  const key = await readFile(`${file}.key`)
  t.equal(Buffer.from(key.toString().trim(), 'base64').length, 32)
  const second = await open(t, { path: file })
  t.same((await second.get('jira'))?.data, OAUTH)
  t.same(await readFile(`${file}.key`), key)
})

t.test('a store whose key file is lost is not given a new key', async (t) => {
  const file = storePath(t)
  const first = await createFileStore({ path: file, logger: logs().logger })
  await first.put('jira', OAUTH)
  await first.close()
  await fsPromises.rename(`${file}.key`, `${file}.key.bak`)
  const before = await readFile(file)
  await t.rejects(createFileStore({ path: file, logger: logs().logger }), { code: 'BROKER_ERR_SECRET_FILE', problem: 'key-missing', message: /secrets\.enc\.key is missing/ })
  await t.rejects(stat(`${file}.key`), { code: 'ENOENT' })
  t.same(await readFile(file), before)
})

t.test('BROKER_MASTER_KEY wins over the key file', async (t) => {
  const file = storePath(t)
  const base64Key = randomBytes(32).toString('base64')
  for (const masterKey of [HEX_KEY, base64Key]) {
    const dir = path.dirname(file)
    const target = path.join(dir, `${masterKey === HEX_KEY ? 'hex' : 'b64'}.enc`)
    const store = await createFileStore({ path: target, masterKey, logger: logs().logger })
    t.equal(store.keySource, 'env')
    await store.put('jira', OAUTH)
    await store.close()
    await t.rejects(stat(`${target}.key`), { code: 'ENOENT' }, 'no key file is created')
    const again = await open(t, { path: target, masterKey: `${masterKey}\n` })
    t.same((await again.get('jira'))?.data, OAUTH)
    await t.rejects(createFileStore({ path: target, logger: logs().logger }), { code: 'BROKER_ERR_SECRET_FILE', problem: 'key-missing' }, 'without the env key the store does not open')
  }
})

t.test('a passphrase derives the key with scrypt and a salt kept in the file', async (t) => {
  const file = storePath(t)
  const store = await createFileStore({ path: file, masterKey: 'correct horse battery staple', logger: logs().logger })
  await store.put('jira', OAUTH)
  await store.close()
  const envelope = JSON.parse(await readFile(file, 'utf8'))
  t.match(envelope.kdf, { name: 'scrypt', salt: String, N: 32768, r: 8, p: 1 })
  const again = await open(t, { path: file, masterKey: 'correct horse battery staple' })
  t.same((await again.get('jira'))?.data, OAUTH)
  const before = await readFile(file)
  await t.rejects(createFileStore({ path: file, masterKey: 'incorrect horse battery staple', logger: logs().logger }), { code: 'BROKER_ERR_SECRET_FILE', problem: 'wrong-key' })
  await t.rejects(createFileStore({ path: file, masterKey: HEX_KEY, logger: logs().logger }), { code: 'BROKER_ERR_SECRET_FILE', problem: 'wrong-key' })
  t.same(await readFile(file), before)
  await t.rejects(createFileStore({ path: storePath(t), masterKey: 'short', logger: logs().logger }), { problem: 'bad-master-key', message: /at least 12 characters/ })
})

t.test('a wrong master key is a typed startup error and the file is left untouched', async (t) => {
  const file = storePath(t)
  const first = await createFileStore({ path: file, logger: logs().logger })
  await first.put('jira', OAUTH)
  await first.close()
  const before = await readFile(file)
  const keyBefore = await readFile(`${file}.key`)
  const originalId = keyId(Buffer.from(keyBefore.toString().trim(), 'base64'))
  const { logger, lines } = logs()
  const error = await createFileStore({ path: file, masterKey: HEX_KEY, logger }).catch((caught: unknown) => caught)
  t.ok(error instanceof SecretFileError)
  t.match(error, { code: 'BROKER_ERR_SECRET_FILE', problem: 'wrong-key', message: /does not match the one that encrypted .*secrets\.enc/ })
  const message = (error as Error).message
  t.match(message, originalId, 'names the fingerprint of the key it needs')
  t.match(message, /BROKER_MASTER_KEY/)
  t.notOk(message.includes(HEX_KEY) || message.includes(keyBefore.toString().trim()), 'never prints a key')
  t.notOk(lines.join('').includes(HEX_KEY))
  t.same(await readFile(file), before)
  t.same(await readFile(`${file}.key`), keyBefore)

  await writeFile(`${file}.key`, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 })
  await t.rejects(createFileStore({ path: file, logger: logs().logger }), { problem: 'wrong-key', message: /restore the original .*secrets\.enc\.key/ })
  t.same(await readFile(file), before)
})

t.test('a corrupted or truncated file is a typed startup error, told apart from a wrong key', async (t) => {
  const file = storePath(t)
  const first = await createFileStore({ path: file, logger: logs().logger })
  await first.put('jira', OAUTH)
  await first.close()
  const good = await readFile(file, 'utf8')
  const envelope = JSON.parse(good)
  const flipped = Buffer.from(envelope.ciphertext, 'base64')
  flipped[0] = (flipped[0] ?? 0) ^ 1
  const cases: Array<[string, string, string]> = [
    ['truncated', good.slice(0, good.length / 2), 'corrupt'],
    ['empty', '', 'corrupt'],
    ['bit flip', JSON.stringify({ ...envelope, ciphertext: flipped.toString('base64') }), 'corrupt'],
    ['edited header', JSON.stringify({ ...envelope, kdf: { name: 'scrypt', salt: randomBytes(16).toString('base64'), N: 16384, r: 8, p: 1 } }), 'corrupt'],
    ['missing tag', JSON.stringify({ ...envelope, tag: undefined }), 'corrupt'],
    ['foreign', JSON.stringify({ hello: 'world' }), 'unsupported-format'],
    ['newer', JSON.stringify({ ...envelope, v: 2 }), 'unsupported-format']
  ]
  for (const [name, contents, problem] of cases) {
    await writeFile(file, contents)
    await t.rejects(createFileStore({ path: file, logger: logs().logger }), { code: 'BROKER_ERR_SECRET_FILE', problem }, name)
    t.equal(await readFile(file, 'utf8'), contents, `${name}: file untouched`)
  }
  await writeFile(file, good.slice(0, -10))
  await t.rejects(createFileStore({ path: file, logger: logs().logger }), { message: /corrupted .*restore it from a backup/ })
})

t.test('versions are kept, old ones pruned but listed in history', async (t) => {
  const clock = new ManualClock()
  const store = await open(t, { path: storePath(t), clock, maxVersions: 3, writtenBy: 'broker' })
  for (let i = 1; i <= 5; i++) {
    await store.put('jira', { ...OAUTH, client_secret: `secret-${i}` }, i === 5 ? { metadata: { rotated_by: 'alice' } } : {})
    await clock.advance(1000)
  }
  t.same((await store.get('jira'))?.data.client_secret, 'secret-5')
  t.same((await store.get('jira', 3))?.data.client_secret, 'secret-3')
  t.equal(await store.get('jira', 2), undefined, 'a pruned version is unreadable')
  t.equal(await store.get('jira', 9), undefined)
  t.same(await store.history('jira'), [
    { version: 1, createdAt: '2026-11-23T12:00:00.000Z', readable: false, writtenBy: 'broker' },
    { version: 2, createdAt: '2026-11-23T12:00:01.000Z', readable: false, writtenBy: 'broker' },
    { version: 3, createdAt: '2026-11-23T12:00:02.000Z', readable: true, writtenBy: 'broker' },
    { version: 4, createdAt: '2026-11-23T12:00:03.000Z', readable: true, writtenBy: 'broker' },
    { version: 5, createdAt: '2026-11-23T12:00:04.000Z', readable: true, writtenBy: 'alice' }
  ])
  t.match(await store.list(), [{ integration: 'jira', currentVersion: 5, createdAt: '2026-11-23T12:00:00.000Z', updatedAt: '2026-11-23T12:00:04.000Z' }])
})

t.test('each version keeps why it was written, sealed in the file, also once its value is pruned', async (t) => {
  const file = storePath(t)
  const store = await open(t, { path: file, maxVersions: 1, writtenBy: 'broker' })
  await store.put('jira', OAUTH, { reason: 'first setup, INC-1' })
  await store.put('jira', { ...OAUTH, client_secret: 'second' })
  await store.put('jira', { ...OAUTH, client_secret: 'third' }, { metadata: { rotated_by: 'alice' }, reason: 'leak in CI log ✓' })
  const reopened = await open(t, { path: file })
  t.same((await reopened.history('jira')).map(({ version, readable, writtenBy, reason }) => ({ version, readable, writtenBy, reason })), [
    { version: 1, readable: false, writtenBy: 'broker', reason: 'first setup, INC-1' },
    { version: 2, readable: false, writtenBy: 'broker', reason: undefined },
    { version: 3, readable: true, writtenBy: 'alice', reason: 'leak in CI log ✓' }
  ])
  t.notOk((await readFile(file, 'utf8')).includes('leak in CI log'), 'kept inside the sealed envelope, like who')
})

t.test('check-and-set: a stale version is a conflict and writes nothing', async (t) => {
  const file = storePath(t)
  const store = await open(t, { path: file })
  t.same(await store.put('jira', OAUTH, { cas: 0 }), { version: 1 })
  const before = await readFile(file)
  await t.rejects(store.put('jira', { ...OAUTH, client_secret: 'other' }, { cas: 0 }), { code: 'BROKER_ERR_SECRET_VERSION_CONFLICT', statusCode: 409 })
  await t.rejects(store.put('jira', OAUTH, { cas: 2 }), { code: 'BROKER_ERR_SECRET_VERSION_CONFLICT' })
  t.same(await readFile(file), before)
  t.equal(await store.currentVersion('jira'), 1)
  t.same(await store.put('jira', OAUTH, { cas: 1 }), { version: 2 })
})

t.test('50 concurrent puts all land with distinct versions; concurrent cas puts admit one', async (t) => {
  const file = storePath(t)
  const store = await open(t, { path: file, maxVersions: 100 })
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.put('jira', { ...OAUTH, client_secret: `s-${i}` })))
  t.same(results.map((result) => result.version).sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i + 1))
  const reopened = await open(t, { path: file })
  t.equal((await reopened.history('jira')).length, 50)
  const values = new Set(await Promise.all(results.map(async ({ version }) => (await reopened.get('jira', version))?.data.client_secret)))
  t.equal(values.size, 50, 'every value is kept under its own version')

  const races = await Promise.allSettled(Array.from({ length: 10 }, () => store.put('confluence', OAUTH, { cas: 0 })))
  t.equal(races.filter((race) => race.status === 'fulfilled').length, 1)
})

t.test('metadata is kept per integration and merged', async (t) => {
  const store = await open(t, { path: storePath(t) })
  await store.put('jira', OAUTH, { metadata: { owner: 'team-a', expires_at: '2027-01-01T00:00:00Z' } })
  await store.updateMetadata('jira', { rotated_at: '2026-11-23T12:00:00Z', rotated_by: 'alice' })
  await store.put('jira', OAUTH, { metadata: { expires_at: '2027-06-01T00:00:00Z' } })
  await store.updateMetadata('jira', { owner: 'team-b', unknown: 'dropped' } as never)
  t.same(await store.metadata('jira'), { owner: 'team-b', expires_at: '2027-06-01T00:00:00Z', rotated_at: '2026-11-23T12:00:00Z', rotated_by: 'alice' })
  t.match(await store.list(), [{ metadata: { owner: 'team-b' } }])
  await t.rejects(store.updateMetadata('nowhere', { owner: 'x' }), { code: 'BROKER_ERR_SECRET_VERSION_NOT_FOUND' })
})

t.test('crash safety: a stale temp file is cleaned up and the real file is intact', async (t) => {
  const file = storePath(t)
  const first = await createFileStore({ path: file, logger: logs().logger })
  await first.put('jira', OAUTH)
  await first.close()
  const before = await readFile(file)
  const stale = `${file}.tmp-4242-deadbeef`
  const fresh = `${file}.tmp-4243-cafebabe`
  await writeFile(stale, before.subarray(0, 40))
  await writeFile(fresh, before.subarray(0, 40))
  const old = new Date(Date.now() - 3_600_000)
  await utimes(stale, old, old)
  const store = await open(t, { path: file })
  t.same((await store.get('jira'))?.data, OAUTH)
  t.same(await readFile(file), before)
  await t.rejects(stat(stale), { code: 'ENOENT' }, 'the stale temp file is removed')
  t.ok((await stat(fresh)).isFile(), 'a young temp file may be another writer\'s and stays')
})

t.test('crash safety: a failed rename leaves the previous file and state intact', async (t) => {
  const { createFileStore: createWithFailingRename } = await t.mockImport<typeof import('../../src/secrets/file/file-store.js')>('../../src/secrets/file/file-store.js', {
    'node:fs/promises': { ...fsPromises, rename: async () => { throw Object.assign(new Error('simulated crash'), { code: 'EIO' }) } }
  })
  const file = storePath(t)
  const first = await createFileStore({ path: file, logger: logs().logger })
  await first.put('jira', OAUTH)
  await first.close()
  const before = await readFile(file)
  const store = await createWithFailingRename({ path: file, logger: logs().logger })
  t.teardown(() => store.close())
  await t.rejects(store.put('jira', { ...OAUTH, client_secret: 'new' }), { code: 'BROKER_ERR_SECRET_STORE_UNAVAILABLE' })
  t.same(await readFile(file), before)
  t.same((await store.get('jira'))?.data, OAUTH, 'memory still holds the durable state')
  t.same(await readdir(path.dirname(file)), ['secrets.enc', 'secrets.enc.key'], 'the temp file is removed')
})

t.test('a write is durable before it is visible: fsync of the temp file, rename, fsync of the folder', async (t) => {
  const events: string[] = []
  const label = (target: unknown): string => path.basename(String(target)).replace(/\.tmp-.*/, '.tmp')
  const { createFileStore: createRecorded } = await t.mockImport<typeof import('../../src/secrets/file/file-store.js')>('../../src/secrets/file/file-store.js', {
    'node:fs/promises': {
      ...fsPromises,
      open: async (target: string, ...rest: [string, number?]) => {
        const handle = await fsPromises.open(target, ...rest)
        const sync = handle.sync.bind(handle)
        handle.sync = async () => { events.push(`fsync ${label(target)}`); await sync() }
        return handle
      },
      rename: async (from: string, to: string) => { events.push(`rename ${label(from)} ${label(to)}`); await fsPromises.rename(from, to) }
    }
  })
  const file = storePath(t)
  const store = await createRecorded({ path: file, masterKey: HEX_KEY, logger: logs().logger })
  t.teardown(() => store.close())
  events.length = 0
  await store.put('jira', OAUTH)
  t.same(events, ['fsync secrets.enc.tmp', 'rename secrets.enc.tmp secrets.enc', 'fsync data'])
})

t.test('a file that becomes unreadable makes health fail and is never overwritten', async (t) => {
  const file = storePath(t)
  const store = await open(t, { path: file })
  await store.put('jira', OAUTH)
  const good = await readFile(file)
  await writeFile(file, good.subarray(0, 30))
  t.match(await store.health(), { ok: false, detail: /unreadable \(corrupt\)/ })
  t.same((await store.get('jira'))?.data, OAUTH, 'reads serve the last good state')
  await t.rejects(store.put('jira', OAUTH), { code: 'BROKER_ERR_SECRET_STORE_UNAVAILABLE' })
  await t.rejects(store.updateMetadata('jira', { owner: 'x' }), { code: 'BROKER_ERR_SECRET_STORE_UNAVAILABLE' })
  t.same(await readFile(file), good.subarray(0, 30))
  await writeFile(file, good)
  t.same(await store.health(), { ok: true, detail: 'ok' })
  t.same(await store.put('jira', OAUTH), { version: 2 })
})

t.test('a write by another process is picked up', async (t) => {
  const file = storePath(t)
  const server = await open(t, { path: file })
  await server.put('jira', OAUTH)
  const cli = await open(t, { path: file })
  await cli.put('jira', { ...OAUTH, client_secret: 'rotated' })
  t.equal(await server.currentVersion('jira'), 2)
  t.same(await server.put('jira', OAUTH, { cas: 2 }), { version: 3 }, 'the next write builds on the other writer\'s version')
})

t.test('close waits for queued writes and refuses later calls', async (t) => {
  const store = await createFileStore({ path: storePath(t), logger: logs().logger })
  const pending = store.put('jira', OAUTH)
  await store.close()
  t.same(await pending, { version: 1 })
  await t.rejects(store.get('jira'), { code: 'BROKER_ERR_SECRET_STORE_UNAVAILABLE' })
  await t.rejects(store.put('jira', OAUTH), { code: 'BROKER_ERR_SECRET_STORE_UNAVAILABLE' })
  t.same(await store.health(), { ok: false, detail: 'closed' })
})
