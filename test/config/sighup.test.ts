import { appendFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { ChildProcess } from 'node:child_process'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { cliEnv, startCli, waitForLine } from '../helpers/cli.js'
import { FakeAtlassian } from '../helpers/fake-atlassian.js'

const JIRA = '11111111-1111-1111-1111-111111111111'
const WIKI = '22222222-2222-2222-2222-222222222222'

async function serve (
  t: Test,
  watchFile: boolean
): Promise<{ child: ChildProcess, file: string, state: () => Promise<{ reloads: number }> }> {
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
  const { url } = JSON.parse(await waitForLine(child, /listening on/)) as { url: string }
  const state = async (): Promise<{ reloads: number }> =>
    ((await (await request(`${url}/readyz`)).body.json()) as { config: { reloads: number } }).config
  return { child, file, state }
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
