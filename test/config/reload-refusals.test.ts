/**
 * What a reload refuses, and what a refusal prints (issue 24 §4): an empty file is not "no integrations", and a
 * problem with a `${VAR}` value quotes the file's text, never the secret it stands for (in the log and in `check`).
 */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { Writable } from 'node:stream'
import t, { type Test } from 'tap'
import { runCheck } from '../../src/cli/check-command.js'
import { LiveConfig } from '../../src/config/live-config.js'
import { loadConfig, requireCloudIds } from '../../src/config/load.js'
import { ConfigReloader, type SitesAnswer } from '../../src/config/reload.js'
import type { ParsedConfig } from '../../src/config/schema.js'
import { createLogger } from '../../src/logger.js'
import { memoryLogStream } from '../helpers/broker-harness.js'

const JIRA = '11111111-1111-1111-1111-111111111111'
const SECRET = 'Zq8vL1-not-for-logs-7Hc2'
const GOOD = `integrations:\n  jira-main: { product: jira, cloudId: ${JIRA} }\npolicy:\n  - { caller: job, integration: jira-main, methods: [GET], paths: ["/**"] }\n`

interface Reloading { file: string, live: LiveConfig, reloader: ConfigReloader, logs: string[] }

function reloaderFor (t: Test, env: NodeJS.ProcessEnv = {}): Reloading {
  const dir = t.testdir({})
  const file = path.join(dir, 'atlassian-broker.yaml')
  writeFileSync(file, GOOD)
  const running = requireCloudIds(loadConfig(file, env).config)
  const live = new LiveConfig(running.integrations, running.policy, () => new Date())
  const logs: string[] = []
  const logger = createLogger({ level: 'info', destination: memoryLogStream(logs) })
  const resolveSites = async (config: ParsedConfig): Promise<SitesAnswer> =>
    ({ config: requireCloudIds(config), problems: [] })
  const reloader = new ConfigReloader({ file, live, running, logger, env, resolveSites })
  t.teardown(() => { reloader.close() })
  return { file, live, reloader, logs }
}

t.test('regression: an empty file was applied and removed every integration; it is refused and the old config serves', async (t) => {
  for (const text of ['', '\n', '# nothing yet\n']) {
    const { file, live, reloader, logs } = reloaderFor(t)
    writeFileSync(file, text)
    const outcome = await reloader.reload()
    t.equal(outcome.outcome, 'rejected', JSON.stringify(text))
    t.match(outcome, { problems: [/the file is empty/] })
    t.same(Object.keys(live.integrations), ['jira-main'], 'the integration stays')
    t.equal(live.policyRules.length, 1)
    t.ok(logs.some((line) => line.includes('config reload refused') && line.includes('the file is empty')), 'logged')
  }
})

t.test('`{}` still means the built-in defaults on purpose', async (t) => {
  const { file, reloader } = reloaderFor(t)
  writeFileSync(file, '{}\n')
  t.equal((await reloader.reload()).outcome, 'applied')
})

const LEAKY = `integrations:
  jira-main: { product: jira, cloudId: ${JIRA}, site: "\${BROKER_MASTER_KEY}" }
policy:
  - { caller: job, integration: "\${BROKER_MASTER_KEY}", methods: [GET], paths: ["/**"] }
`

t.test('regression: a refused reload logged the value of a ${VAR}; it quotes the file\'s text', async (t) => {
  const { file, reloader, logs } = reloaderFor(t, { BROKER_MASTER_KEY: SECRET })
  writeFileSync(file, LEAKY)
  const outcome = await reloader.reload()
  t.equal(outcome.outcome, 'rejected')
  t.ok(logs.some((line) => line.includes('config reload refused')))
  t.ok(logs.some((line) => line.includes('\\"${BROKER_MASTER_KEY}\\" is not defined under integrations')), 'the raw text is quoted')
  t.notOk(logs.some((line) => line.includes(SECRET)), 'the value is in no log line')
  t.notOk(JSON.stringify(outcome).includes(SECRET), 'nor in the outcome')
})

t.test('regression: `check` printed the value of a ${VAR}; it quotes the file\'s text', async (t) => {
  const dir = t.testdir({})
  const file = path.join(dir, 'atlassian-broker.yaml')
  writeFileSync(file, LEAKY)
  let text = ''
  const out = new Writable({ write (chunk: Buffer | string, _encoding, done) { text += chunk.toString(); done() } })
  t.equal(await runCheck(file, { env: { BROKER_MASTER_KEY: SECRET }, out, offline: true }), false)
  t.match(text, '"${BROKER_MASTER_KEY}" is not defined under integrations')
  t.match(text, 'integrations.jira-main.site: "${BROKER_MASTER_KEY}"')
  t.notOk(text.includes(SECRET), 'the value is nowhere in the output')
})
