/**
 * Caller JWTs verified through a Kubernetes-style JWKS endpoint: HTTPS with the cluster's own CA, and a
 * service-account bearer token read from a file that rotates on disk (so it is re-read at every fetch).
 */
import { execFileSync } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { JwksClient } from '../../src/callers/jwks.js'

t.test('JWKS over HTTPS with a private CA and a rotating bearer token file', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'jwks-k8s-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'ca.crt')], { stdio: 'ignore' })
  const signing = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const seen: string[] = []
  const server = createServer({ key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(path.join(dir, 'ca.crt')) }, (request, response) => {
    seen.push(String(request.headers.authorization))
    if (request.headers.authorization === undefined) { response.writeHead(401).end(); return }
    response.writeHead(200, { 'content-type': 'application/json' })
    response.end(JSON.stringify({ keys: [{ ...signing.publicKey.export({ format: 'jwk' }), kid: 'cluster-key', use: 'sig', alg: 'RS256' }] }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close() })
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/openid/v1/jwks`
  const tokenFile = path.join(dir, 'token')
  writeFileSync(tokenFile, 'sa-token-one\n')

  let now = 0
  const client = new JwksClient(url, { bearerTokenFile: tokenFile, caFile: path.join(dir, 'ca.crt'), ttlMs: 1_000, now: () => now })
  const pem = await client.keyFor('cluster-key')
  t.ok(pem?.includes('BEGIN PUBLIC KEY'), 'key fetched over HTTPS trusted through caFile')
  t.same(seen, ['Bearer sa-token-one'], 'the service-account token was sent')
  writeFileSync(tokenFile, 'sa-token-two\n')
  now = 2_000
  await client.keyFor('cluster-key')
  t.same(seen, ['Bearer sa-token-one', 'Bearer sa-token-two'], 'a rotated token file is read again at the next fetch')

  const untrusted = new JwksClient(url, { bearerTokenFile: tokenFile, failureBackoffMs: 0 })
  await t.rejects(untrusted.keyFor('cluster-key'), 'without the CA the self-signed endpoint is not trusted')
})
