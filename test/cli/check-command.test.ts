import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import t, { type Test } from 'tap'
import { PROBE_CLIENT_ID, runCheck } from '../../src/cli/check-command.js'
import { createLogger } from '../../src/logger.js'
import { createFileStore } from '../../src/secrets/file/file-store.js'

const CLOUD_ID = '11111111-2222-3333-4444-555555555555'

function capture (): { out: Writable, text: () => string } {
  let text = ''
  const out = new Writable({ write (chunk: Buffer | string, _encoding, done) { text += chunk.toString(); done() } })
  return { out, text: () => text }
}

function tempDir (t: Test): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'broker-check-'))
  t.teardown(() => import('node:fs').then(({ rmSync }) => rmSync(dir, { recursive: true, force: true })))
  return dir
}

function writeConfig (dir: string, yaml: string): string {
  const file = path.join(dir, 'broker.yaml')
  writeFileSync(file, yaml)
  return file
}

/** A config with a file store in `dir`, two integrations and a rule for each. */
function fileStoreConfig (extra = ''): string {
  return `
dataDir: ./data
secrets:
  store: file
  file: { path: ./data/secrets.enc }
integrations:
  jira-main: { product: jira, cloudId: ${CLOUD_ID} }
  wiki: { product: confluence, cloudId: ${CLOUD_ID} }
policy:
  - { caller: report-job, integration: jira-main, methods: [GET], paths: ['/rest/api/3/**'] }
  - { caller: report-job, integration: wiki, methods: [GET], paths: ['/wiki/api/v2/**'] }
${extra}`
}

/** A local HTTP server; `answer` gets the method, URL and body. Counts hits. */
async function fakeServer (
  t: Test,
  answer: (method: string, url: string, body: string) => { status: number, body: string }
): Promise<{ url: string, hits: Array<{ method: string, url: string, body: string }> }> {
  const hits: Array<{ method: string, url: string, body: string }> = []
  const server: Server = createServer((request, response) => {
    let body = ''
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString()
    })
    request.on('end', () => {
      hits.push({ method: request.method ?? '', url: request.url ?? '', body })
      const reply = answer(request.method ?? '', request.url ?? '', body)
      response.writeHead(reply.status, { 'content-type': 'application/json' }).end(reply.body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits }
}

/** A port nothing listens on: bound, then released. */
async function closedPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

async function storeCredential (dir: string, integration: string): Promise<void> {
  const store = await createFileStore({ path: path.join(dir, 'data', 'secrets.enc'), logger: createLogger({ level: 'silent' }) })
  await store.put(integration, { client_id: 'id', client_secret: 'not-a-real-secret' })
  await store.close()
}

t.test('offline: a valid file passes and the report names what it found', async (t) => {
  const dir = tempDir(t)
  const { out, text } = capture()
  const ok = await runCheck(writeConfig(dir, fileStoreConfig()), { offline: true, out, env: {} })
  t.equal(ok, true, text())
  t.match(text(), /✔ config: .*broker\.yaml is valid/)
  t.match(text(), /✔ integrations: 2\n {4}jira-main: jira, cloudId 1111.*\n {4}wiki: confluence/)
  t.match(text(), /✔ policy: 2 rules for 1 caller pattern/)
  t.match(text(), /✔ callers: no key source configured; the broker generates an HS256 key in .*caller-signing\.key/)
  t.match(text(), /✔ secret store: encrypted file .*secrets\.enc/)
  t.match(text(), /offline: the secret store, the caller JWKS and the token endpoint were not contacted/)
  t.match(text(), /All checks passed\./)
  t.notMatch(text(), /✖/)
  t.same(readdirSync(dir), ['broker.yaml'], 'check wrote nothing (no data dir, no key file)')
})

t.test('offline: a bad file fails and every problem is listed', async (t) => {
  const dir = tempDir(t)
  const { out, text } = capture()
  const file = writeConfig(dir, `
listen: { port: 99999 }
integrations:
  jira-main: { product: jira, cloudId: not-a-uuid }
  wiki: { product: bitbucket, cloudId: ${CLOUD_ID} }
policy:
  - { caller: me, integration: jira-main, methods: [FETCH], paths: ['/rest/**'] }
secrets:
  store: vault
  vault: { address: '\${VAULT_ADDR}', auth: { method: token, token: t } }
colour: blue
`)
  const ok = await runCheck(file, { offline: true, out, env: {} })
  t.equal(ok, false)
  t.match(text(), /✖ config: \d+ problems in .*broker\.yaml/)
  for (const problem of [
    /- listen\.port: /,
    /- integrations\.jira-main\.cloudId: a cloudId is a UUID/,
    /- integrations\.wiki\.product: /,
    /- policy\.0\.methods\.0: /,
    /- secrets\.vault\.address: environment variable VAULT_ADDR is not set/,
    /- \(root\): Unrecognized key.*colour/
  ]) t.match(text(), problem)
  t.match(text(), /1 check failed\./)
})

t.test('offline: env references resolve from the given environment', async (t) => {
  const dir = tempDir(t)
  const file = writeConfig(dir, `
integrations:
  jira-main: { product: jira, cloudId: '\${CLOUD_ID}' }
  wiki: { product: confluence, cloudId: '\${CLOUD_ID:-${CLOUD_ID}}' }
policy:
  - { caller: me, integration: wiki, methods: [GET], paths: ['/wiki/**'] }
`)
  const missing = capture()
  t.equal(await runCheck(file, { offline: true, out: missing.out, env: {} }), false)
  t.match(missing.text(), /integrations\.jira-main\.cloudId: environment variable CLOUD_ID is not set/)
  const given = capture()
  t.equal(await runCheck(file, { offline: true, out: given.out, env: { CLOUD_ID } }), true, given.text())
  t.match(given.text(), /! policy: no rule names integration jira-main, so no caller can reach it/)
})

t.test('a missing file or invalid YAML is a config failure, not a crash', async (t) => {
  const dir = tempDir(t)
  const missing = capture()
  t.equal(await runCheck(path.join(dir, 'nope.yaml'), { offline: true, out: missing.out, env: {} }), false)
  t.match(missing.text(), /✖ config: 1 problem in .*nope\.yaml\n {4}- cannot read the file \(ENOENT\)/)
  const broken = capture()
  t.equal(await runCheck(writeConfig(dir, 'policy: [\n'), { offline: true, out: broken.out, env: {} }), false)
  t.match(broken.text(), /- not valid YAML/)
})

t.test('online: an unreachable token endpoint is reported with ✖', async (t) => {
  const dir = tempDir(t)
  await storeCredential(dir, 'jira-main')
  await storeCredential(dir, 'wiki')
  const port = await closedPort()
  const { out, text } = capture()
  const ok = await runCheck(writeConfig(dir, fileStoreConfig(`atlassian: { tokenUrl: 'http://127.0.0.1:${port}/oauth/token', timeouts: { tokenMs: 2000 } }`)), { offline: false, out, env: {} })
  t.equal(ok, false)
  t.match(text(), /✔ secret store: file reachable/)
  t.match(text(), /✔ credentials: stored for all 2 integrations/)
  t.match(text(), new RegExp(`✖ token endpoint: http://127\\.0\\.0\\.1:${port}/oauth/token unreachable \\(.*ECONNREFUSED`))
  t.match(text(), /1 check failed\./)
})

t.test('online: a token endpoint answering an OAuth error is reachable; missing credentials are named', async (t) => {
  const dir = tempDir(t)
  await storeCredential(dir, 'jira-main')
  const atlassian = await fakeServer(t, (method) => method === 'POST'
    ? { status: 401, body: JSON.stringify({ error: 'access_denied', error_description: 'Unauthorized' }) }
    : { status: 405, body: '{}' })
  const { out, text } = capture()
  const ok = await runCheck(writeConfig(dir, fileStoreConfig(`atlassian: { tokenUrl: '${atlassian.url}/oauth/token' }`)), { offline: false, out, env: {} })
  t.equal(ok, false, 'wiki has no credential')
  t.match(text(), /✔ token endpoint: .* reachable \(answered 401 "access_denied" to an invalid client, as it should\)/)
  t.match(text(), /✖ credentials: no stored credential for wiki \(store one with `atlassian-broker secrets put NAME`\)/)
  t.equal(atlassian.hits.length, 1, 'exactly one probe')
  t.match(JSON.parse(atlassian.hits[0]?.body ?? '{}'), { grant_type: 'client_credentials', client_id: PROBE_CLIENT_ID }, 'never a stored credential')
})

t.test('online: a token URL that answers without an OAuth error is not the token endpoint', async (t) => {
  const dir = tempDir(t)
  await storeCredential(dir, 'jira-main')
  await storeCredential(dir, 'wiki')
  const proxy = await fakeServer(t, () => ({ status: 502, body: '<html>bad gateway</html>' }))
  const { out, text } = capture()
  t.equal(await runCheck(writeConfig(dir, fileStoreConfig(`atlassian: { tokenUrl: '${proxy.url}/oauth/token' }`)), { offline: false, out, env: {} }), false)
  t.match(text(), /✖ token endpoint: .* answered 502 without an OAuth error/)
})

t.test('online: a file store that does not exist yet is not created', async (t) => {
  const dir = tempDir(t)
  const atlassian = await fakeServer(t, () => ({ status: 401, body: '{"error":"access_denied"}' }))
  const { out, text } = capture()
  t.equal(await runCheck(writeConfig(dir, fileStoreConfig(`atlassian: { tokenUrl: '${atlassian.url}/oauth/token' }`)), { offline: false, out, env: {} }), false)
  t.match(text(), /✔ secret store: .*secrets\.enc does not exist yet/)
  t.match(text(), /✖ credentials: none stored yet, missing for jira-main, wiki/)
  t.same(readdirSync(dir), ['broker.yaml'], 'no store, no key file written')
})

t.test('online: JWKS callers and an unreachable Vault', async (t) => {
  const dir = tempDir(t)
  const issuer = await fakeServer(t, (method, url) => url === '/jwks'
    ? { status: 200, body: JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0', kid: 'k1' }] }) }
    : { status: 401, body: '{"error":"access_denied"}' })
  const vaultPort = await closedPort()
  const file = writeConfig(dir, `
callers: { jwt: { jwksUrl: '${issuer.url}/jwks', issuer: https://kubernetes.default.svc.cluster.local } }
atlassian: { tokenUrl: '${issuer.url}/oauth/token' }
secrets:
  store: vault
  vault: { address: 'http://127.0.0.1:${vaultPort}', requestTimeoutMs: 2000, auth: { method: kubernetes, role: broker, jwtPath: ./missing-token } }
`)
  const { out, text } = capture()
  t.equal(await runCheck(file, { offline: false, out, env: {} }), false)
  t.match(text(), /✔ callers: JWKS at .*\/jwks; audience atlassian-broker, issuer https:\/\/kubernetes\.default\.svc\.cluster\.local, caller claim "sub"/)
  t.match(text(), /✔ secret store: Vault http:\/\/127\.0\.0\.1:\d+, KV v2 secret\/atlassian-broker, kubernetes auth \(role broker, mount kubernetes, token .*missing-token\)/)
  t.match(text(), /✖ Vault login token \(vault\.auth\.jwtPath\): cannot read .*missing-token \(ENOENT\)/)
  t.match(text(), /✖ secret store: cannot open the vault store: /)
  t.match(text(), /✔ caller JWKS: .*\/jwks answered 1 key/)
  t.match(text(), /✔ token endpoint: /)
})
