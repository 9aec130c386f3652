/**
 * SIGTERM under load (docs/security.md, "Fault tolerance"): the real `serve` process stops accepting, lets every
 * in-flight request finish within `shutdownGraceMs` (slow answers, downloads, uploads), and exits 0; past the grace it
 * closes what is left and exits 1.
 */
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { createSigner } from 'fast-jwt'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { stringify } from 'yaml'
import { createFileStore } from '../../src/secrets/file/file-store.js'
import { cliEnv, startCli, waitForLine } from '../helpers/cli.js'
import { FakeAtlassian, streamSha256 } from '../helpers/fake-atlassian.js'

const CLOUD_ID = '11111111-1111-1111-1111-111111111111'
const CALLER_SECRET = 'sigterm-load-caller-secret-0123456789abcdef'
const MASTER = 'sigterm-load-master-key-passphrase'

interface Served { child: ChildProcess, url: string, token: string, fake: FakeAtlassian }

async function serve (t: Test, shutdownGraceMs: number): Promise<Served> {
  const dir = t.testdir({})
  const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: CLOUD_ID }] })
  fake.addClient('cid', 'sigterm-client-secret')
  const secrets = path.join(dir, 'secrets.enc')
  const store = await createFileStore({ path: secrets, masterKey: MASTER, logger: pino({ level: 'silent' }) })
  await store.put('jira-main', { client_id: 'cid', client_secret: 'sigterm-client-secret' })
  await store.close()
  writeFileSync(path.join(dir, 'atlassian-broker.yaml'), stringify({
    listen: { host: '127.0.0.1', port: 0 },
    callers: { jwt: { hs256Secret: CALLER_SECRET } },
    atlassian: { tokenUrl: fake.tokenUrl, apiUrl: fake.url },
    integrations: { 'jira-main': { product: 'jira', cloudId: CLOUD_ID, credential: 'oauth' } },
    policy: [{ caller: 'load-job', integration: 'jira-main', methods: ['GET', 'PUT'], paths: ['/rest/api/3/**'] }],
    secrets: { store: 'file', file: { path: secrets } },
    // 40 calls in flight from one caller: above the default per-caller share (32).
    limits: { callerMaxConcurrent: 100 },
    shutdownGraceMs
  }))
  const child = startCli(['serve'], { cwd: dir, env: cliEnv({ BROKER_MASTER_KEY: MASTER }) })
  t.teardown(() => { child.kill('SIGKILL') })
  const { url } = JSON.parse(await waitForLine(child, /listening on/)) as { url: string }
  const token = createSigner({ key: CALLER_SECRET, algorithm: 'HS256' })({ sub: 'load-job', aud: 'atlassian-broker', exp: Math.floor(Date.now() / 1000) + 600 })
  return { child, url, token, fake }
}

const exited = (child: ChildProcess): Promise<number | null> => new Promise((resolve) => {
  if (child.exitCode !== null) resolve(child.exitCode)
  else child.once('exit', (code) => resolve(code))
})

t.test('SIGTERM with 40 requests in flight: every one completes, intact, and the process exits 0', async (t) => {
  const { child, url, token, fake } = await serve(t, 10_000)
  const auth = { authorization: `Bearer ${token}` }
  fake.setNextResponses(/slow-report/, Array.from({ length: 30 }, (_, index) => ({ status: 200, body: { report: index }, delayMs: 1_200 })))
  const slow = Array.from({ length: 30 }, async (_, index) => {
    const response = await request(`${url}/proxy/jira-main/rest/api/3/slow-report?n=${index}`, { headers: auth })
    return { status: response.statusCode, body: await response.body.json() as { report?: number } }
  })
  const size = 16 * 1024 * 1024
  const downloads = Array.from({ length: 5 }, async () => {
    const response = await request(`${url}/proxy/jira-main/rest/api/3/attachment/content/stream/${size}`, { headers: auth })
    const hash = createHash('sha256')
    for await (const chunk of response.body) {
      hash.update(chunk as Buffer)
      await new Promise((resolve) => setTimeout(resolve, 1))
    }
    return { status: response.statusCode, sha256: hash.digest('hex') }
  })
  const uploads = Array.from({ length: 5 }, async () => {
    const response = await request(`${url}/proxy/jira-main/rest/api/3/attachments/sink`, {
      method: 'PUT', headers: { ...auth, 'content-type': 'application/octet-stream' }, body: Buffer.alloc(4 * 1024 * 1024, 3)
    })
    return { status: response.statusCode, body: await response.body.json() as { bytes?: number } }
  })
  // SIGTERM only once all 40 have reached Atlassian: a request the broker has not yet accepted is refused by design.
  const arrived = (part: string): number => fake.requests.filter((r) => r.path.includes(part)).length
  while (arrived('slow-report') < 30 || arrived('content/stream') < 5 || arrived('attachments/sink') < 5) {
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  const signalledAt = Date.now()
  child.kill('SIGTERM')

  const slowResults = await Promise.all(slow)
  t.ok(slowResults.every((result) => result.status === 200 && result.body.report !== undefined), 'all 30 slow answers arrived')
  t.same(new Set(slowResults.map((result) => result.body.report)).size, 30, 'each with its own body')
  const downloaded = await Promise.all(downloads)
  t.ok(downloaded.every((result) => result.status === 200 && result.sha256 === streamSha256(size)), 'all 5 downloads arrived whole')
  const uploaded = await Promise.all(uploads)
  t.ok(uploaded.every((result) => result.status === 200 && result.body.bytes === 4 * 1024 * 1024), `all 5 uploads arrived whole (${JSON.stringify(uploaded.map((result) => [result.status, result.body.bytes]))})`)

  const code = await exited(child)
  t.equal(code, 0, 'exit 0')
  t.ok(Date.now() - signalledAt < 10_000, 'within the grace')
  await t.rejects(request(`${url}/healthz`), { code: 'ECONNREFUSED' }, 'no longer listening')
})

t.test('past shutdownGraceMs the remaining requests are closed and the process exits 1', async (t) => {
  const { child, url, token, fake } = await serve(t, 800)
  fake.setNextResponses(/very-slow/, [{ status: 200, body: { late: true }, delayMs: 10_000 }])
  const pending = request(`${url}/proxy/jira-main/rest/api/3/very-slow`, {
    headers: { authorization: `Bearer ${token}` }
  }).then(
    async (response) => ({ status: response.statusCode, error: undefined }),
    (error: Error) => ({ status: 0, error })
  )
  while (!fake.requests.some((r) => r.path.includes('very-slow'))) await new Promise((resolve) => setTimeout(resolve, 20))
  const signalledAt = Date.now()
  child.kill('SIGTERM')
  t.equal(await exited(child), 1, 'exit 1: the grace ran out')
  t.ok(Date.now() - signalledAt < 5_000, `gave up after ${Date.now() - signalledAt} ms`)
  const outcome = await pending
  t.ok(outcome.error !== undefined || outcome.status >= 500, 'the caller saw the connection end, not a false success')
})
