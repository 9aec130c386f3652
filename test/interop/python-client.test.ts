/**
 * atlassian-python-api, the most used Python client, through the broker: its calls work, and the broker's refusals show
 * the broker's message (the client reads Atlassian's `errorMessages`; without it every refusal read "Unknown error").
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { CLIENT_SECRET, startHarness } from '../helpers/broker-harness.js'
import { pythonTools } from '../helpers/python-tools.js'

const run = promisify(execFile)
const SCRIPT = fileURLToPath(new URL('./python/atlassian_client.py', import.meta.url))

interface Outcome { name: string, ok: boolean, status: number | null, error?: string, result?: unknown }

t.test('atlassian-python-api shows the broker\'s messages, and Atlassian\'s own errors pass through', async (t) => {
  const tools = await pythonTools()
  if (!tools.ok) { t.plan(0, tools.skip); return }
  const h = await startHarness(t)
  const token = h.callerToken('report-job')
  const { stdout } = await run(tools.bin('python'), [SCRIPT], {
    env: { PATH: process.env.PATH, BROKER_URL: h.url, BROKER_TOKEN: token, NO_PROXY: '127.0.0.1' },
    timeout: 120_000
  })
  const outcomes = new Map((JSON.parse(stdout) as Outcome[]).map((outcome) => [outcome.name, outcome]))
  const get = (name: string): Outcome => outcomes.get(name) ?? { name, ok: false, status: null, error: 'missing' }

  t.match(get('jira myself'), { ok: true, result: 'report-bot@serviceaccount.atlassian.com' }, 'a call through the broker works')

  const denied = get('jira policy denied')
  t.equal(denied.status, 403)
  t.match(denied.error, /^Policy denies GET \/rest\/api\/2\/myself/, 'the broker\'s message, not "Unknown error"')
  t.match(get('jira unknown integration'), { status: 404, error: /Unknown integration "no-such-integration"/ })
  t.match(get('confluence policy denied'), { status: 403, error: /Policy denies POST/ })

  const missing = get('jira issue Atlassian does not have')
  t.equal(missing.status, 404)
  t.notMatch(missing.error, /BROKER_ERR|Unknown error/, 'Atlassian\'s own errorMessages, passed through unchanged')

  for (const outcome of outcomes.values()) {
    t.notMatch(outcome.error ?? '', /Unknown error/, `${outcome.name}: no "Unknown error"`)
    t.notOk(JSON.stringify(outcome).includes(token), `${outcome.name}: the caller JWT is never repeated`)
  }
  t.notOk(h.logs.some((line) => line.includes(CLIENT_SECRET) || line.includes(token)), 'no secret in the log')
})
