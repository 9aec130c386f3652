/**
 * One Redis options builder (src/fleet/redis-options.ts) for the sidecar's link and the CLI's announcement, on real
 * redis-servers: a TLS server behind a private CA made here with openssl is reached by both with `tls.caFile`, and
 * announce says why it failed without it (a TLS failure, not "could not be reached"); a wrong password and a refused
 * port are named too, and no cause ever carries the password.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { systemClock } from '../../src/clock.js'
import { announceCredentialChange } from '../../src/fleet/announce.js'
import { decodeEvent } from '../../src/fleet/fleet-events.js'
import { RedisLink } from '../../src/fleet/redis-link.js'
import type { FleetConfig } from '../../src/config/schema.js'
import { parseConfig } from '../../src/config/load.js'
import { createLogger } from '../../src/logger.js'
import { findRedisServer, freePort, RedisServer } from '../helpers/redis-server.js'

const change = { integration: 'jira-main', oldVersion: 1, newVersion: 2 }

function skipReason (): string | false {
  const bin = findRedisServer()
  if (bin === undefined) return 'redis-server is not installed (.ci/run installs it)'
  if (spawnSync('openssl', ['version']).status !== 0) return 'openssl is not installed'
  // A build without TLS does not know the directive; one with TLS complains about the missing files instead.
  const probe = spawnSync(bin, ['--port', '0', '--tls-port', '1', '--tls-cert-file', '/nonexistent', '--save', ''], { encoding: 'utf8', timeout: 5_000 })
  return /Bad directive/.test(`${probe.stdout}${probe.stderr}`) ? 'this redis-server was built without TLS' : false
}

/** A private CA and a server certificate for 127.0.0.1 signed by it. */
function privateCa (dir: string): { ca: string, cert: string, key: string } {
  const file = (name: string): string => join(dir, name)
  const openssl = (...args: string[]): void => { execFileSync('openssl', args, { stdio: 'ignore' }) }
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('ca.key'), '-out', file('ca.crt'), '-days', '2', '-subj', '/CN=broker-test-ca')
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=127.0.0.1')
  writeFileSync(file('ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n')
  openssl('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file('server.crt'), '-days', '2', '-extfile', file('ext'))
  return { ca: file('ca.crt'), cert: file('server.crt'), key: file('server.key') }
}

function fleetConfig (redis: Record<string, unknown>): FleetConfig {
  const dir = '/nonexistent-data-dir'
  const config = parseConfig({
    dataDir: dir,
    callers: { jwt: { audience: 'a', hs256Secret: 'x'.repeat(32) } },
    integrations: {},
    policy: [],
    fleet: { redis: { keyPrefix: 'tls-test', connectTimeoutMs: 2_000, ...redis } }
  }, 'test config', {})
  return config.fleet!
}

t.test('a Redis behind a private CA', { skip: skipReason() }, async (t: Test) => {
  const dir = t.testdir({})
  const pki = privateCa(dir)
  const port = await freePort()
  await RedisServer.start(t, {
    args: ['--port', '0', '--tls-port', String(port), '--tls-cert-file', pki.cert, '--tls-key-file', pki.key, '--tls-ca-cert-file', pki.ca, '--tls-auth-clients', 'no']
  })
  const url = `rediss://127.0.0.1:${port}`

  t.test('announce reaches it with tls.caFile: the old token is dropped and the change published', async (t) => {
    const inspect = new Redis(url, { tls: { ca: readFileSync(pki.ca) } })
    t.teardown(() => { inspect.disconnect() })
    const tokenKey = 'tls-test:{tls-test:jira-main}:token:v1'
    await inspect.set(tokenKey, 'sealed')
    // What is checked is that announce over TLS reaches a subscriber. A listener whose TLS connection dropped on a
    // loaded machine (fresh-clone runs saw one stay deaf for 20 s) loses messages rather than receiving them late, so
    // each attempt listens on a connection of its own, counted by Redis as subscribed before the announce.
    let message: string | undefined
    for (let attempt = 0; attempt < 4 && message === undefined; attempt++) {
      const listener = new Redis(url, { tls: { ca: readFileSync(pki.ca) } })
      listener.on('error', () => {}) // a dropped connection is this loop's business, not an unhandled event
      t.teardown(() => { listener.disconnect() })
      const heard = new Promise<string>((resolve) => { listener.on('message', (_channel: string, text: string) => { resolve(text) }) })
      await listener.subscribe('tls-test:events')
      for (let tries = 0; tries < 250; tries++) {
        const [, subscribers] = await inspect.pubsub('NUMSUB', 'tls-test:events') as [string, number]
        if (subscribers >= 1) break
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      const causes: string[] = []
      const announced = await announceCredentialChange(fleetConfig({ url, tls: { caFile: pki.ca } }), change, 'cli:test', (cause) => { causes.push(cause) })
      t.equal(announced, true, 'announced')
      t.same(causes, [], 'no failure reported')
      if (!announced) return // nothing will be heard
      const late = new Promise<undefined>((resolve) => setTimeout(() => { resolve(undefined) }, 5_000).unref())
      message = await Promise.race([heard, late])
      listener.disconnect()
    }
    t.ok(message !== undefined, 'a listener heard the change')
    if (message === undefined) return
    t.match(decodeEvent(message, { known: new Set(['jira-main']), keyFor: () => undefined, now: Date.now() }), {
      event: { type: 'credential', integration: 'jira-main', version: 2 }, origin: 'cli:test'
    })
    t.equal(await inspect.exists(tokenKey), 0, 'the old version\'s shared token is gone')
  })

  t.test('without the CA announce fails and says it was TLS', async (t) => {
    const causes: string[] = []
    t.equal(await announceCredentialChange(fleetConfig({ url }), change, 'cli:test', (cause) => { causes.push(cause) }), false, 'not announced')
    t.equal(causes.length, 1, 'one cause')
    t.match(causes[0], /^TLS failed \((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)/)
  })

  t.test('the sidecar\'s link is built by the same builder: it connects with tls.caFile', async (t) => {
    const link = new RedisLink({ url, tls: { caFile: pki.ca }, keyPrefix: 'tls-test', commandTimeoutMs: 1_000, connectTimeoutMs: 2_000 }, createLogger({ level: 'silent' }), systemClock)
    t.teardown(async () => { await link.close() })
    link.start()
    for (let tries = 0; tries < 250 && !link.connected; tries++) await new Promise((resolve) => setTimeout(resolve, 20))
    t.equal(link.connected, true, 'connected')
    t.equal(await link.run(async (redis) => await redis.ping()), 'PONG', 'and answers')
  })
})

t.test('announce names a wrong password and a refused port, never the password', { skip: findRedisServer() === undefined ? 'redis-server is not installed (.ci/run installs it)' : false }, async (t) => {
  const redis = await RedisServer.start(t, { args: ['--requirepass', 'right-password-123'] })
  const password = 'wrong-password-456'
  const causes: string[] = []
  t.equal(await announceCredentialChange(fleetConfig({ url: redis.url, password }), change, 'cli:test', (cause) => { causes.push(cause) }), false)
  t.match(causes[0], /^authentication failed/, 'a wrong password')
  t.equal(await announceCredentialChange(fleetConfig({ url: redis.url, password: 'right-password-123' }), change, 'cli:test'), true, 'the right one works')
  const closed = await freePort()
  t.equal(await announceCredentialChange(fleetConfig({ url: `redis://127.0.0.1:${closed}`, password }), change, 'cli:test', (cause) => { causes.push(cause) }), false)
  t.match(causes[1], /^connection refused \(ECONNREFUSED\)/, 'a closed port')
  t.equal(await announceCredentialChange(fleetConfig({ url: redis.url, passwordFile: '/nonexistent/password' }), change, 'cli:test', (cause) => { causes.push(cause) }), false)
  t.match(causes[2], /could not be read \(ENOENT\)/, 'a missing passwordFile is named, not thrown')
  for (const cause of causes) t.notOk(cause.includes(password), `no password in "${cause}"`)
})
