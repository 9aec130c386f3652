/**
 * The embedded store across processes (issue 24 §5): writers that each read the file, changed it and renamed their
 * copy over the others' lost acknowledged versions. Under `<file>.lock` each write re-reads the file and applies its
 * change (and check-and-set) to what is on disk.
 */
import { spawnSync } from 'node:child_process'
import { readdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import pino from 'pino'
import t from 'tap'
import { createFileStore } from '../../src/secrets/file/file-store.js'
import { FileLockTimeoutError, withFileLock } from '../../src/secrets/file/file-lock.js'

const MASTER = 'file-lock-test-master-key-passphrase'
const silent = pino({ level: 'silent' })

/** A pid that ran and has ended, so no process has it (pids are not reused this quickly). */
function deadPid (): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'])
  return Number(child.stdout.toString())
}

t.test('regression: two stores on one file, writing at once, lose no version', async (t) => {
  const file = path.join(t.testdir({}), 'data', 'secrets.enc')
  const first = await createFileStore({ path: file, logger: silent })
  const second = await createFileStore({ path: file, logger: silent })
  t.teardown(async () => { await first.close(); await second.close() })
  const puts = []
  for (let round = 0; round < 5; round++) {
    puts.push(first.put('jira-a', { client_id: `a${round}`, client_secret: 'secret-a-0123456789' }))
    puts.push(second.put('jira-b', { client_id: `b${round}`, client_secret: 'secret-b-0123456789' }))
    puts.push(second.put('jira-a', { client_id: `a${round}x`, client_secret: 'secret-a-0123456789' }))
  }
  await Promise.all(puts)
  const reader = await createFileStore({ path: file, logger: silent })
  t.teardown(() => reader.close())
  t.same((await reader.history('jira-a')).map((entry) => entry.version), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
  t.same((await reader.history('jira-b')).map((entry) => entry.version), [1, 2, 3, 4, 5])
  t.same((await readdir(path.dirname(file))).sort(), ['secrets.enc', 'secrets.enc.key'], 'no lock or temp file is left')
})

t.test('check-and-set compares against the file on disk, not the state this store read earlier', async (t) => {
  const file = path.join(t.testdir({}), 'secrets.enc')
  const first = await createFileStore({ path: file, masterKey: MASTER, logger: silent })
  const second = await createFileStore({ path: file, masterKey: MASTER, logger: silent })
  t.teardown(async () => { await first.close(); await second.close() })
  await first.put('jira', { client_id: 'one', client_secret: 'secret-one-0123456789' })
  t.equal(await second.currentVersion('jira'), 1)
  await first.put('jira', { client_id: 'two', client_secret: 'secret-two-0123456789' }, { cas: 1 })
  await t.rejects(second.put('jira', { client_id: 'three', client_secret: 'secret-three-0123456789' }, { cas: 1 }), { code: 'BROKER_ERR_SECRET_VERSION_CONFLICT' })
  t.equal((await second.get('jira'))?.data.client_id, 'two')
})

t.test('opening a store that does not exist yet writes nothing: no folder, no key file', async (t) => {
  const dir = t.testdir({})
  const store = await createFileStore({ path: path.join(dir, 'data', 'secrets.enc'), logger: silent })
  t.same(await store.list(), [])
  t.same(await store.health(), { ok: true, detail: 'ok' })
  await store.close()
  t.same(await readdir(dir), [])
})

t.test('a lock left by a process that died is taken over; one held by a running process is waited for', async (t) => {
  const dir = t.testdir({})
  const file = path.join(dir, 'secrets.enc')
  await writeFile(`${file}.lock`, JSON.stringify({ pid: deadPid(), token: 'dead-holder' }))
  const store = await createFileStore({ path: file, masterKey: MASTER, logger: silent })
  t.teardown(() => store.close())
  t.same(await store.put('jira', { client_id: 'cid', client_secret: 'secret-0123456789' }), { version: 1 })
  t.same((await readdir(dir)).sort(), ['secrets.enc'], 'the stale lock is gone')

  await writeFile(`${file}.lock`, JSON.stringify({ pid: process.pid, token: 'live-holder' }))
  const refused = withFileLock(file, async () => 'ran', { waitMs: 50 })
  await t.rejects(refused, FileLockTimeoutError)
  await t.rejects(refused, { message: new RegExp(`held by process ${process.pid}; if no such process runs, remove the file`) })
  t.same((await readdir(dir)).sort(), ['secrets.enc', 'secrets.enc.lock'], 'a live holder\'s lock is left alone')
})

t.test('the lock is released when the critical section throws', async (t) => {
  const file = path.join(t.testdir({}), 'target')
  await t.rejects(withFileLock(file, async () => { throw new Error('boom') }), { message: 'boom' })
  t.equal(await withFileLock(file, async () => 'again'), 'again')
  t.same(await readdir(path.dirname(file)), [])
})
