/** CallerGone: the per-request cancel signal that replaces an AbortController, as undici and the retry wait use it. */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { request } from 'undici'
import { CallerGone } from '../../src/upstream/caller-gone.js'
import { sleepOn } from '../../src/upstream/retry-policy.js'
import { systemClock } from '../../src/clock.js'

t.test('abort fires each listener once with an AbortError reason; removed listeners stay quiet', async (t) => {
  const gone = new CallerGone()
  const calls: string[] = []
  const removed = (): void => { calls.push('removed') }
  gone.addEventListener('abort', () => calls.push('first'))
  gone.addEventListener('abort', removed)
  gone.removeEventListener('abort', removed)
  t.equal(gone.aborted, false)
  gone.abort()
  gone.abort()
  t.same(calls, ['first'])
  t.equal(gone.aborted, true)
  t.equal((gone.reason as Error).name, 'AbortError')
  gone.addEventListener('abort', () => calls.push('late'))
  t.same(calls, ['first'], 'a listener added after the abort is not called (callers read `aborted` first)')
})

t.test('undici gives up a request in flight when the caller goes away', async (t) => {
  const server = createServer(() => { /* never answers */ })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const gone = new CallerGone()
  const pending = request(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, { signal: gone as unknown as AbortSignal })
  setTimeout(() => gone.abort(), 50)
  await t.rejects(pending, { name: 'AbortError' })
})

t.test('the retry wait ends early when the caller goes away', async (t) => {
  const gone = new CallerGone()
  const waiting = sleepOn(systemClock)(60_000, gone)
  gone.abort()
  await t.rejects(waiting, { name: 'AbortError' })
})
