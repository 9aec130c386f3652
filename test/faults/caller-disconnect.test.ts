/**
 * A caller that goes away mid-upload or mid-download (docs/security.md, "Fault tolerance"): the upstream request is
 * aborted, no socket, timer or listener is left behind, the broker keeps serving, and the log says what happened
 * without calling it an internal error.
 */
import net from 'node:net'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { JIRA_CLOUD_ID, WIKI_CLOUD_ID, startHarness, type Harness } from '../helpers/broker-harness.js'
import { call, eventually } from '../helpers/calls.js'
import { FakeAtlassian } from '../helpers/fake-atlassian.js'

const warnings: Error[] = []
process.on('warning', (warning) => { warnings.push(warning) })

interface Baseline { fakeSockets: number, resources: number, serverListeners: number, callerConnections: number }

async function connections (h: Harness): Promise<number> {
  return await new Promise((resolve, reject) =>
    h.broker.app.server.getConnections((error, count) => {
      if (error) reject(error)
      else resolve(count)
    })
  )
}

async function baseline (h: Harness): Promise<Baseline> {
  const server = h.broker.app.server
  return {
    callerConnections: await connections(h),
    fakeSockets: h.fake.openSockets,
    resources: process.getActiveResourcesInfo().length,
    serverListeners: server.eventNames().reduce((sum, name) => sum + server.listenerCount(name), 0)
  }
}

async function assertNothingLeaked (t: Test, h: Harness, before: Baseline): Promise<void> {
  t.ok(await eventually(() => h.fake.openSockets <= before.fakeSockets), `upstream sockets back to ${before.fakeSockets} (now ${h.fake.openSockets})`)
  t.ok(await eventually(() => process.getActiveResourcesInfo().length <= before.resources + 2), 'no sockets or timers pile up in the process')
  const after = await baseline(h)
  t.equal(after.serverListeners, before.serverListeners, 'the server has no more listeners than before')
  t.ok(await eventually(async () => await connections(h) <= before.callerConnections), 'no abandoned caller connection is held open')
  t.same(warnings.filter((warning) => warning.name === 'MaxListenersExceededWarning'), [], 'no listener-leak warning')
  t.notMatch(h.logs.join('\n'), /unexpected error/, 'a caller going away is not logged as an internal error')
  t.equal((await call(h)).status, 200, 'the broker keeps serving')
}

/** Sends the head and `sentBytes` of a body that claims `declaredBytes` (or chunked), then destroys the socket. */
async function abandonUpload (
  h: Harness,
  options: { sentBytes: number, declaredBytes?: number, afterMs?: number }
): Promise<void> {
  const { port } = new URL(h.url)
  const socket = net.connect(Number(port), '127.0.0.1')
  socket.on('error', () => {})
  await new Promise((resolve) => socket.once('connect', resolve))
  const framing =
    options.declaredBytes === undefined ? 'Transfer-Encoding: chunked' : `Content-Length: ${options.declaredBytes}`
  socket.write(
    `PUT /proxy/jira-main/rest/api/3/attachments/sink HTTP/1.1\r\nHost: broker\r\nAuthorization: Bearer ${h.callerToken('report-job')}\r\n` +
      `Content-Type: application/octet-stream\r\n${framing}\r\n\r\n`
  )
  const body = Buffer.alloc(options.sentBytes, 7)
  socket.write(
    options.declaredBytes === undefined
      ? Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n')])
      : body
  )
  await new Promise((resolve) => setTimeout(resolve, options.afterMs ?? 150))
  socket.destroy()
}

t.test('caller disconnects mid-upload: the upstream request is aborted, nothing leaks', async (t) => {
  const h = await startHarness(t)
  t.equal((await call(h)).status, 200, 'warm: token cached, keep-alive sockets open')
  const before = await baseline(h)
  for (let round = 0; round < 10; round++) {
    await abandonUpload(h, { sentBytes: 512 * 1024, declaredBytes: 20 * 1024 * 1024 })
    await abandonUpload(h, { sentBytes: 512 * 1024 })
  }
  const uploads = h.fake.requests.filter((r) => r.apiPath === '/rest/api/3/attachments/sink')
  t.ok(uploads.length > 0, 'uploads had started upstream')
  t.ok(await eventually(() => uploads.every((r) => r.status === undefined && r.bodyBytes < 20 * 1024 * 1024)), 'none was completed upstream')
  await assertNothingLeaked(t, h, before)
})

t.test('caller disconnects mid-download: the upstream response is abandoned and its socket destroyed', async (t) => {
  const h = await startHarness(t)
  t.equal((await call(h)).status, 200, 'warm')
  const before = await baseline(h)
  for (let round = 0; round < 10; round++) {
    const controller = new AbortController()
    const response = await request(`${h.url}/proxy/jira-main/rest/api/3/attachment/content/stream/${64 * 1024 * 1024}`, {
      headers: { authorization: `Bearer ${h.callerToken('report-job')}` }, signal: controller.signal
    })
    let received = 0
    try {
      for await (const chunk of response.body) {
        received += (chunk as Buffer).length
        if (received > 1024 * 1024) controller.abort()
      }
    } catch { /* aborted on purpose */ }
    t.ok(received < 64 * 1024 * 1024, `round ${round}: stopped after ${received} bytes`)
  }
  await assertNothingLeaked(t, h, before)
})

t.test('regression: a caller breaking off its upload while the token is fetched crashed the broker (uncaught error on the body guard)', async (t) => {
  const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: JIRA_CLOUD_ID }, { product: 'confluence', cloudId: WIKI_CLOUD_ID }], slowTokenDelayMs: 600 })
  const h = await startHarness(t, { fake })
  h.fake.tokenEndpointMode = 'slow'
  const before = await baseline(h)
  // The body is streamed (bigger than limits.replayBufferBytes): the guard exists while the broker waits for the token.
  await abandonUpload(h, { sentBytes: 64 * 1024, declaredBytes: 10 * 1024 * 1024, afterMs: 100 })
  await abandonUpload(h, { sentBytes: 64 * 1024, afterMs: 100 })
  await new Promise((resolve) => setTimeout(resolve, 800))
  h.fake.tokenEndpointMode = 'ok'
  t.match(h.logs.join('\n'), /caller closed the connection before the answer/)
  t.equal(h.fake.requests.filter((r) => r.endpoint === 'gateway').length, 0, 'nothing was sent upstream for the abandoned uploads')
  await assertNothingLeaked(t, h, { ...before, fakeSockets: before.fakeSockets + 2 })
})
