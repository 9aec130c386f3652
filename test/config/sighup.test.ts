import { appendFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { ChildProcess } from 'node:child_process'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { cliEnv, runCli, startCli, waitForLine } from '../helpers/cli.js'
import { FakeAtlassian } from '../helpers/fake-atlassian.js'

const JIRA = '11111111-1111-1111-1111-111111111111'
const WIKI = '22222222-2222-2222-2222-222222222222'

async function serve (
  t: Test,
  watchFile: boolean
): Promise<{ child: ChildProcess, file: string, dir: string, pid: number, state: () => Promise<{ reloads: number }> }> {
  const fake = await FakeAtlassian.start({ t })
  const dir = t.testdir({})
  const file = path.join(dir, 'atlassian-broker.yaml')
  writeFileSync(
    file,
    `listen: { host: 127.0.0.1, port: 0 }
atlassian: { tokenUrl: ${fake.tokenUrl}, apiUrl: ${fake.url} }
reload: { watchFile: ${watchFile} }
integrations:
  jira-main: { product: jira, cloudId: ${JIRA} }
`
  )
  const child = startCli(['serve'], { cwd: dir, env: cliEnv() })
  t.teardown(() => {
    child.kill('SIGKILL')
  })
  const { url, pid } = JSON.parse(await waitForLine(child, /listening on/)) as { url: string, pid: number }
  const state = async (): Promise<{ reloads: number }> =>
    ((await (await request(`${url}/readyz`)).body.json()) as { config: { reloads: number } }).config
  return { child, file, dir, pid, state }
}

t.test('the real process reloads on SIGHUP and keeps running', async (t) => {
  const { child, file, state } = await serve(t, false)
  appendFileSync(file, `  wiki-main: { product: confluence, cloudId: ${WIKI} }\n`)
  child.kill('SIGHUP')
  await waitForLine(child, /config reloaded: integration wiki-main added/)
  t.equal((await state()).reloads, 1)
  child.kill('SIGHUP')
  await waitForLine(child, /integrations and policy unchanged/)
  t.equal((await state()).reloads, 1, 'an unchanged file is not a reload')
  t.equal(child.exitCode, null, 'SIGHUP does not stop the broker')
})

t.test('with reload.watchFile the process reloads when the file changes, without a signal', async (t) => {
  const { child, file, state } = await serve(t, true)
  appendFileSync(file, 'policy: [{ caller: job, integration: jira-main, methods: [GET], paths: ["/**"] }]\n')
  await waitForLine(child, /config reloaded: rule added: job → jira-main GET \/\*\*/)
  t.equal((await state()).reloads, 1)
})

t.test('regression (issue 24 §7): the listening line names the pid, and `reload` needs none', async (t) => {
  const { child, file, dir, pid, state } = await serve(t, false)
  t.equal(pid, child.pid, 'the pid logged is the broker process itself')
  appendFileSync(file, `  wiki-main: { product: confluence, cloudId: ${WIKI} }\n`)
  const result = await runCli(['reload'], { cwd: dir, env: cliEnv() })
  t.equal(result.code, 0, result.stderr)
  t.match(result.stdout, `sent SIGHUP to the broker (pid ${pid})`)
  await waitForLine(child, /config reloaded: integration wiki-main added/)
  t.equal((await state()).reloads, 1)
  t.equal(child.exitCode, null)
})

t.test('`reload` with no broker running says so and signals nothing', async (t) => {
  const dir = t.testdir({ '.broker': { 'broker.pid': '999999999\n' } })
  writeFileSync(path.join(dir, 'atlassian-broker.yaml'), 'listen: { host: 127.0.0.1, port: 0 }\n')
  const stale = await runCli(['reload'], { cwd: dir, env: cliEnv() })
  t.equal(stale.code, 2)
  t.match(stale.stderr, 'not a running broker')
})
