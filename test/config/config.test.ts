/** Config: ${ENV} interpolation, every problem at once, defaults, and relative paths resolved against the file's
 * folder. */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { ConfigError, loadConfig, parseConfig } from '../../src/config/load.js'

t.test('built-in defaults need no file', async (t) => {
  const config = parseConfig({}, 'defaults', {})
  t.match(config, { listen: { host: '127.0.0.1', port: 8787 }, secrets: { store: 'file' }, atlassian: { tokenUrl: 'https://auth.atlassian.com/oauth/token', apiUrl: 'https://api.atlassian.com' } })
  t.same(config.policy, [], 'deny by default')
  t.ok(Object.isFrozen(config.atlassian), 'frozen')
})

t.test('${ENV} and ${ENV:-fallback} are interpolated; every problem is reported with its path', async (t) => {
  const config = parseConfig({ callers: { jwt: { hs256Secret: '${SECRET}', issuer: '${ISSUER:-https://ci.example}' } } }, 'x', { SECRET: 'a'.repeat(40) })
  t.equal(config.callers.jwt.hs256Secret, 'a'.repeat(40))
  t.equal(config.callers.jwt.issuer, 'https://ci.example')
  const error = t.throws(() => parseConfig({
    listen: { port: -1 },
    integrations: { bad: { product: 'bitbucket', cloudId: 'x' } },
    policy: [{ caller: 'a', integration: 'missing', methods: ['GET'], paths: ['/x'] }],
    vault: {},
    callers: { jwt: { hs256Secret: '${NOT_SET}' } }
  }, 'bad.yaml', {})) as ConfigError
  t.type(error, ConfigError)
  for (const where of ['listen.port', 'integrations.bad.product', 'integrations.bad.cloudId', 'policy[0].integration', 'NOT_SET', '(root)']) {
    t.ok(error.problems.some((problem) => problem.includes(where)), `reports ${where}`)
  }
})

t.test('relative paths resolve against the config file\'s folder, for every file-valued key', async (t) => {
  const dir = t.testdir({})
  const file = path.join(dir, 'broker.yaml')
  writeFileSync(file, [
    'dataDir: data',
    'callers:',
    '  jwt: { audience: atlassian-broker, jwksUrl: "https://k8s.example/openid/v1/jwks", jwksBearerTokenFile: token, jwksCaFile: ca.crt }',
    '  admin: { auditFile: audit/admin.jsonl }',
    'usage: { auditFile: audit/calls.jsonl }',
    'secrets:',
    '  store: vault',
    '  file: { path: secrets.enc }',
    '  vault: { address: "https://vault.example:8200", tls: { caFile: vault-ca.pem }, auth: { method: approle, roleId: r, secretIdFile: secret-id } }'
  ].join('\n'))
  const { config } = loadConfig(file, {})
  const inDir = (name: string): string => path.join(dir, name)
  t.equal(config.dataDir, inDir('data'))
  t.equal(config.secrets.file.path, inDir('secrets.enc'))
  t.equal(config.callers.jwt.jwksBearerTokenFile, inDir('token'))
  t.equal(config.callers.jwt.jwksCaFile, inDir('ca.crt'))
  t.equal(config.callers.admin.auditFile, inDir('audit/admin.jsonl'))
  t.equal(config.usage.auditFile, inDir('audit/calls.jsonl'))
  t.equal(config.secrets.vault?.tls?.caFile, inDir('vault-ca.pem'))
  t.match(config.secrets.vault?.auth, { method: 'approle', secretIdFile: inDir('secret-id') })

  // Regression: the Sentinel's own password file was read from the working directory instead.
  writeFileSync(file, [
    'fleet:',
    '  redis:',
    '    passwordFile: redis-password',
    '    tls: { caFile: redis-ca.pem }',
    '    sentinel: { nodes: ["sentinel-a:26379"], masterName: broker, passwordFile: sentinel-password }'
  ].join('\n'))
  const redis = loadConfig(file, {}).config.fleet?.redis
  t.equal(redis?.passwordFile, inDir('redis-password'))
  t.equal(redis?.tls?.caFile, inDir('redis-ca.pem'))
  t.equal(redis?.sentinel?.passwordFile, inDir('sentinel-password'))
})

t.test('regression (issue 24 §7): the file store lives in dataDir unless secrets.file.path says otherwise', async (t) => {
  const dir = t.testdir({})
  const file = path.join(dir, 'atlassian-broker.yaml')
  writeFileSync(file, 'dataDir: state\n')
  t.equal(loadConfig(file, {}).config.secrets.file.path, path.join(dir, 'state', 'secrets.enc'))
  writeFileSync(file, 'dataDir: state\nsecrets: { file: { path: elsewhere/store.enc } }\n')
  t.equal(loadConfig(file, {}).config.secrets.file.path, path.join(dir, 'elsewhere', 'store.enc'))
  t.equal(parseConfig({}).secrets.file.path, './.broker/secrets.enc', 'the built-in default is unchanged')
})

t.test('issue 24 §7: a siteUrl without {site} is refused with an example of one that works', async (t) => {
  t.throws(() => parseConfig({ atlassian: { siteUrl: 'http://127.0.0.1:9000/acme.atlassian.net' } }), {
    message: /atlassian\.siteUrl: must contain \{site\}, which is replaced by the site name: "https:\/\/\{site\}" \(the default\) or, for a local test double, "http:\/\/127\.0\.0\.1:9000\/site\/\{site\}"/
  })
})

t.test('budgets in points: a budget gives perSecond, pointsPerHour or both; a rule may cap its caller\'s points', async (t) => {
  const jira = { product: 'jira', cloudId: '11111111-1111-1111-1111-111111111111' }
  const config = parseConfig({
    integrations: { 'jira-main': { ...jira, budget: { pointsPerHour: 30_000 } }, both: { ...jira, budget: { perSecond: 5, pointsPerHour: 10 } } },
    policy: [{ caller: 'job-*', integration: 'jira-main', methods: ['GET'], paths: ['/**'], pointsPerHour: 1_000 }]
  })
  t.same(config.integrations['jira-main']?.budget, { pointsPerHour: 30_000 })
  t.same(config.integrations.both?.budget, { perSecond: 5, pointsPerHour: 10 })
  t.equal(config.policy[0]?.pointsPerHour, 1_000)
  t.throws(() => parseConfig({ integrations: { 'jira-main': { ...jira, budget: { burst: 3 } } } }), { message: /a budget gives perSecond, pointsPerHour or both/ })
  t.throws(() => parseConfig({ integrations: { 'jira-main': { ...jira, budget: { pointsPerHour: 0 } } } }), { message: /pointsPerHour/ })
})
