/**
 * Issue 16 item 2: one caller trickling uploads (Content-Length 100,000, one byte every few hundred ms) must not starve
 * anyone else. Each integration has its own upstream pool and seats, each caller a default share of concurrency (calls
 * beyond it wait in the caller's queue), and every upload an idle and a total deadline and a minimum rate (408
 * BROKER_ERR_REQUEST_BODY_TIMEOUT), so a stalled upload gives its seat back. Real loopback HTTP, the fake Atlassian
 * upstream; the deadlines run on the broker's ManualClock, so the test moves time instead of waiting 26 s for it.
 */
import net from 'node:net'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { CLIENT_SECRET, JIRA_CLOUD_ID, startHarness, WIKI_CLOUD_ID, type Harness } from '../helpers/broker-harness.js'
import { FakeAtlassian } from '../helpers/fake-atlassian.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { parseResponse, type RawResponse } from '../helpers/raw-http.js'

const POLICY = [
  { caller: 'uploader', integration: 'jira-main', methods: ['POST'], paths: ['/rest/api/3/**'] },
  { caller: 'reader', integration: 'wiki-main', methods: ['GET'], paths: ['/wiki/**'] },
  { caller: 'reader', integration: 'jira-main', methods: ['GET'], paths: ['/rest/api/3/**'] }
]

interface SlowUpload {
  /** Resolves with the broker's answer (status 0 if the connection closed without one). */
  answer: Promise<RawResponse>
  /** Sends one more byte of the body (nothing once the connection is gone). */
  send: () => void
  bytesSent: () => number
  /** The caller JWT it sent (for the no-leak checks). */
  token: string
}

/** Announces 100,000 bytes and sends the first; the test sends each further byte as its clock moves. */
function slowUpload (h: Harness, caller: string): SlowUpload {
  const { port } = new URL(h.url)
  const socket = net.connect(Number(port), '127.0.0.1')
  const token = h.callerToken(caller)
  let sent = 0
  let raw = ''
  const answer = new Promise<RawResponse>((resolve) => {
    const done = (): void => {
      socket.destroy()
      resolve(parseResponse(raw))
    }
    socket.on('data', (chunk: Buffer) => {
      raw += chunk.toString('latin1')
      const parsed = parseResponse(raw)
      if (parsed.status !== 0 && Buffer.byteLength(parsed.body, 'latin1') >= Number(parsed.headers['content-length'] ?? Infinity)) done()
    })
    socket.on('close', done)
    socket.on('error', done)
  })
  socket.write('POST /proxy/jira-main/rest/api/3/issue/OPS-1/attachments HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
    `Authorization: Bearer ${token}\r\nX-Atlassian-Token: no-check\r\nContent-Type: application/octet-stream\r\n` +
    'Content-Length: 100000\r\n\r\n')
  const send = (): void => {
    if (socket.destroyed) return
    socket.write('x')
    sent++
  }
  send()
  return { answer, send, bytesSent: () => sent, token }
}

const problemCode = (response: RawResponse): string | undefined => (JSON.parse(response.body === '' ? '{}' : response.body) as { code?: string }).code
const uploadsAtFake = (h: Harness): number => h.fake.requests.filter((r) => r.method === 'POST' && r.path.includes('/attachments')).length

/** A harness whose broker has `connections` per integration (the fake is started first: its URLs are in the config). */
async function harness (
  t: Test,
  clock: ManualClock,
  connections: number,
  limits: Record<string, unknown>
): Promise<Harness> {
  const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: JIRA_CLOUD_ID }, { product: 'confluence', cloudId: WIKI_CLOUD_ID }] })
  return await startHarness(t, {
    fake,
    clock,
    config: { policy: POLICY, atlassian: { tokenUrl: fake.tokenUrl, apiUrl: fake.url, connections }, limits }
  })
}

/** Lets socket I/O run between steps of the manual clock (no time passes on it). */
async function settle (): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
}

/** Moves the broker's clock by `ms` in steps of `stepMs`, each upload sending one byte per step. */
async function trickle (clock: ManualClock, uploads: SlowUpload[], ms: number, stepMs: number): Promise<void> {
  for (let elapsed = 0; elapsed < ms; elapsed += stepMs) {
    for (const upload of uploads) upload.send()
    await settle()
    await clock.advance(Math.min(stepMs, ms - elapsed))
  }
}

async function until (condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 600 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 50))
  if (!condition()) throw new Error(`never happened: ${what}`)
}

/** The call's status, or 0 when the reader's own deadline passed first. */
async function readerCall (h: Harness, path: string, deadlineMs: number): Promise<number> {
  // The reader's own timeout: a call stuck behind the uploads fails here instead of answering 200.
  try {
    const response = await request(`${h.url}${path}`, {
      headers: { authorization: `Bearer ${h.callerToken('reader')}` },
      signal: AbortSignal.timeout(deadlineMs)
    })
    await response.body.text()
    return response.statusCode
  } catch {
    return 0
  }
}

t.test('66 slow uploads fill integration A\'s pool: a call to integration B still answers 200; every upload gets its 408', async (t) => {
  // The default share (32) would refuse half the uploads: lifted here so the pools alone are what is tested.
  const clock = new ManualClock()
  // The minimum rate is off: this test is about the pools and the total deadline.
  const limits = {
    callerMaxConcurrent: 1_000, requestBodyIdleMs: 3_000, requestBodyTotalMs: 12_000, minUploadBytesPerSecond: 0
  }
  const h = await harness(t, clock, 64, limits)
  const uploads = Array.from({ length: 66 }, () => slowUpload(h, 'uploader'))
  await until(() => uploadsAtFake(h) >= 64, '64 uploads streaming to the fake Atlassian')
  t.equal(uploadsAtFake(h), 64, 'integration A\'s pool (64 connections) is full: the other 2 uploads wait for a seat')
  t.equal(h.broker.seatQueue.rows()[0]?.depth, 2, 'in the caller\'s queue')

  t.equal(await readerCall(h, '/proxy/wiki-main/wiki/rest/api/user/current', 6_000), 200, 'integration B answers at once: its pool is its own')

  // A byte every second (under the 3 s idle deadline) for 11.999 s: still streaming, none answered.
  await trickle(clock, uploads, 11_999, 1_000)
  t.equal(uploads.filter((upload) => upload.bytesSent() > 1).length, 66, 'every upload kept sending')
  const firstAnswer = Promise.any(uploads.map(async (upload) => await upload.answer))
  t.equal(await Promise.race([firstAnswer, settle().then(() => 'none')]), 'none', 'no answer before the total deadline')
  let answered = 0
  for (const upload of uploads) void upload.answer.then(() => { answered++ })
  await clock.advance(1)
  await until(() => answered === 64 && uploadsAtFake(h) === 66, 'the 64 answered; the 2 that waited got their seats')
  // Their deadlines start when the broker starts reading them, after the wait: the caller was not the slow one.
  await trickle(clock, uploads, 12_000, 1_000)
  const answers = await Promise.all(uploads.map(async (upload) => await upload.answer))
  t.same(answers.map((answer) => answer.status), answers.map(() => 408), 'every slow upload answered 408')
  t.same([...new Set(answers.map(problemCode))], ['BROKER_ERR_REQUEST_BODY_TIMEOUT'])
  t.match(answers[0]?.body, /not complete within 12000 ms/, 'the total deadline cut them off (they never went idle)')
  t.equal(answers[0]?.headers.connection, 'close', 'the connection ends with the answer: the rest of the body is not read')
  t.ok(uploads.every((upload) => upload.bytesSent() < 100_000), 'no upload completed')
  t.same(h.broker.forwarder.pooledIntegrations().sort(), ['jira-main', 'wiki-main'], 'one pool per integration called')
  const tokens = uploads.map((upload) => upload.token)
  t.notOk(h.logs.some((line) => tokens.some((token) => line.includes(token)) || line.includes(CLIENT_SECRET)), 'no caller token or client secret in the log')
  t.notOk(answers.some((answer) => tokens.some((token) => answer.raw.includes(token))), 'nor in the 408 answers')
})

t.test('the default per-caller share: of 40 stalled uploads by one caller, 32 go upstream and 8 wait (none refused); the idle deadline ends the 32, then the 8', async (t) => {
  const clock = new ManualClock()
  const limits = { requestBodyIdleMs: 2_000, requestBodyTotalMs: 60_000, minUploadBytesPerSecond: 0 }
  const h = await harness(t, clock, 64, limits)
  t.equal(h.config.limits.callerMaxConcurrent, 32, 'the default')
  // One byte, then silence: the idle deadline ends them.
  const uploads = Array.from({ length: 40 }, () => slowUpload(h, 'uploader'))
  await until(() => uploadsAtFake(h) >= 32 && h.broker.seatQueue.rows()[0]?.depth === 8, 'the 32 admitted uploads streaming to the fake Atlassian, 8 queued')
  await settle()
  await clock.advance(1_999)
  t.equal(uploadsAtFake(h), 32, 'only the caller\'s share went upstream')
  await clock.advance(1)
  await until(() => uploadsAtFake(h) === 40, 'the 8 that waited went upstream as the first 32 freed their slots')
  await settle()
  await clock.advance(2_000)
  const answers = await Promise.all(uploads.map(async (upload) => await upload.answer))
  t.same(answers.filter((answer) => answer.status !== 408), [], 'none refused: all 40 admitted, then cut off')
  t.ok(answers.every((answer) => problemCode(answer) === 'BROKER_ERR_REQUEST_BODY_TIMEOUT'))
  t.match(answers[0]?.body, /no byte received for 2000 ms/, 'the idle deadline')
})

t.test('a caller\'s share leaves room: while 32 uploads stall, another caller\'s calls to the same integration answer 200', async (t) => {
  const clock = new ManualClock()
  const limits = { requestBodyIdleMs: 8_000, requestBodyTotalMs: 8_000, minUploadBytesPerSecond: 0 }
  const h = await harness(t, clock, 40, limits)
  const uploads = Array.from({ length: 40 }, () => slowUpload(h, 'uploader'))
  await until(() => uploadsAtFake(h) >= 32, '32 uploads streaming to the fake Atlassian')
  for (let i = 0; i < 10; i++) {
    await trickle(clock, uploads, 300, 300)
    t.equal(await readerCall(h, '/proxy/jira-main/rest/api/3/myself', 10_000), 200, `reader call ${i + 1}`)
  }
  t.equal(uploadsAtFake(h), 32, 'the uploader holds only its share of the 40 connections')
  await trickle(clock, uploads, 5_000, 1_000)
  await until(() => uploadsAtFake(h) === 40, 'the 8 waiting uploads admitted once the first 32 ended')
  await trickle(clock, uploads, 8_000, 1_000)
  const answers = await Promise.all(uploads.map(async (upload) => await upload.answer))
  t.equal(answers.filter((answer) => answer.status === 408).length, 40, 'none refused; each cut off by its deadline')
})

t.test('a stalled upload (below limits.minUploadBytesPerSecond) gives its seat back to a caller waiting for it', async (t) => {
  const clock = new ManualClock()
  const limits = {
    requestBodyIdleMs: 5_000, requestBodyTotalMs: 600_000, minUploadBytesPerSecond: 100, queue: { seats: 1 }
  }
  const h = await harness(t, clock, 64, limits)
  const upload = slowUpload(h, 'uploader')
  await until(() => uploadsAtFake(h) === 1, 'the upload holds the only seat')
  const reader = readerCall(h, '/proxy/jira-main/rest/api/3/myself', 60_000)
  await until(() => h.broker.seatQueue.rows().some((row) => row.caller === 'reader' && row.depth === 1), 'the reader waits for the seat')
  // A byte a second: never idle for 5 s, but 5 bytes a window where 500 are due.
  await trickle(clock, [upload], 4_999, 1_000)
  t.equal(h.broker.seatQueue.rows().find((row) => row.caller === 'reader')?.depth, 1, 'still waiting just before the window ends')
  await clock.advance(1)
  const answer = await upload.answer
  t.equal(answer.status, 408)
  t.equal(problemCode(answer), 'BROKER_ERR_REQUEST_BODY_TIMEOUT')
  t.match(answer.body, /slower than 100 bytes per second over 5000 ms/)
  t.equal(await reader, 200, 'the freed seat went to the waiting reader')
})
