/**
 * `serve` loads only what serving needs (issue 15, footprint): no CLI command, no Vault client with the file store,
 * no undici before its first upstream call (issue 26), no prom-client index (default process metrics, Pushgateway),
 * no Fastify schema compiler (no route has a JSON schema), no MCP SDK or tools while `mcp.enabled` is off. Checked
 * on the real command through tsx, by the list of modules the process loaded; the bench's "footprint" scenario
 * measures what this buys (bench/README.md).
 */
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { cliEnv, startCli, waitForLine } from '../helpers/cli.js'

const TRACE = fileURLToPath(new URL('../helpers/module-trace.mjs', import.meta.url))
const MASTER = '6a1f0c9e3b7d52a8e4c1f0b9a7d6e5c4b3a29180f7e6d5c4b3a2918070605040'

/** What `serve` must not load before its first proxied call, on a file config and on its defaults alike. */
const unwanted: Record<string, RegExp> = {
  'CLI commands': /src[/\\]cli[/\\](check-command|secrets-commands|rotation-commands|caller-token|init-command)\.[jt]s$/,
  'node-vault': /node_modules[/\\]node-vault[/\\]/,
  'the Vault store': /src[/\\]secrets[/\\]vault[/\\]/,
  // undici's Pool and request load at the first upstream call (src/atlassian/undici-parts.ts), its index never.
  undici: /node_modules[/\\]undici[/\\]/,
  'prom-client\'s index (default metrics, Pushgateway)': /node_modules[/\\]prom-client[/\\]index\.js$/,
  'Fastify\'s schema compilers': /node_modules[/\\]@fastify[/\\](ajv-compiler|fast-json-stringify-compiler)[/\\]/,
  ioredis: /node_modules[/\\]ioredis[/\\]/,
  // mcp.enabled is off: neither the MCP SDK, the converters nor the tools load (issue 25).
  'the MCP endpoint': /node_modules[/\\](@modelcontextprotocol|turndown|marklassian)[/\\]|src[/\\]mcp[/\\]|src[/\\]cli[/\\]mcp-stdio/
}

t.test('serve with the file store loads no command, Vault, index-only or schema-compiler module', async (t) => {
  const dir = t.testdir({})
  const trace = path.join(dir, 'modules.txt')
  const config = path.join(dir, 'atlassian-broker.yaml')
  writeFileSync(config, JSON.stringify({
    listen: { host: '127.0.0.1', port: 0 },
    dataDir: path.join(dir, 'data'),
    callers: { jwt: { audience: 'atlassian-broker', hs256Secret: 'footprint-test-secret-0123456789-abcdefghijkl' } },
    integrations: { 'jira-main': { product: 'jira', cloudId: '11111111-1111-4111-8111-111111111111', credential: 'oauth' } },
    policy: [{ caller: 'report-job', integration: 'jira-main', methods: ['GET'], paths: ['/rest/api/3/**'] }]
  }))
  const env = { ...cliEnv({ BROKER_MASTER_KEY: MASTER, MODULE_TRACE_FILE: trace }), NODE_OPTIONS: `--import=${TRACE}` }
  const child = startCli(['serve', '--config', config], { cwd: dir, env })
  t.teardown(() => { child.kill('SIGKILL') })
  await waitForLine(child, /listening on/)
  child.kill('SIGTERM')
  t.equal(await new Promise((resolve) => child.on('exit', resolve)), 0, 'stopped cleanly')

  const loaded = readFileSync(trace, 'utf8').split('\n').filter((line) => line !== '')
  t.ok(loaded.some((file) => /src[/\\]broker\.ts$/.test(file)), 'the trace saw the broker itself load')
  for (const [what, pattern] of Object.entries(unwanted)) {
    t.same(loaded.filter((file) => pattern.test(file)), [], `${what} not loaded`)
  }
})

t.test('serve on its built-in defaults (no config file) loads neither the YAML parser nor the rest', async (t) => {
  const dir = t.testdir({})
  const trace = path.join(dir, 'modules.txt')
  const env = { ...cliEnv({ BROKER_MASTER_KEY: MASTER, MODULE_TRACE_FILE: trace }), NODE_OPTIONS: `--import=${TRACE}` }
  const child = startCli(['serve', '--port', '0'], { cwd: dir, env })
  t.teardown(() => { child.kill('SIGKILL') })
  await waitForLine(child, /listening on/)
  child.kill('SIGTERM')
  t.equal(await new Promise((resolve) => child.on('exit', resolve)), 0, 'stopped cleanly')
  const loaded = readFileSync(trace, 'utf8').split('\n').filter((line) => line !== '')
  t.ok(loaded.some((file) => /src[/\\]config[/\\]load\.ts$/.test(file)), 'the trace saw the config loader load')
  t.same(loaded.filter((file) => /node_modules[/\\]yaml[/\\]/.test(file)), [], 'yaml not loaded')
  for (const [what, pattern] of Object.entries(unwanted)) {
    t.same(loaded.filter((file) => pattern.test(file)), [], `${what} not loaded`)
  }
})
