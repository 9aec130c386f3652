/**
 * The interactive path through a real pseudo-terminal (util-linux `script`): each answer is typed when its prompt
 * appears, and the secret's keystrokes must not come back on the terminal.
 */
import { spawn, spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { CLI, cliEnv } from '../helpers/cli.js'
import { FakeAtlassian } from '../helpers/fake-atlassian.js'

const CLOUD_ID = '0a1b2c3d-0000-4000-8000-000000000002'
const SECRET = 'typed-secret-value-0123456789'
const hasScript = spawnSync('script', ['--version']).status === 0

t.test('init asks in a terminal and does not echo the secret', { skip: hasScript ? false : 'util-linux script is not installed' }, async (t) => {
  const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: CLOUD_ID }] })
  fake.setSiteName('acme.atlassian.net', CLOUD_ID)
  fake.addClient('typed-client', SECRET)
  const dir = t.testdir({})
  const file = path.join(dir, 'atlassian-broker.yaml')
  writeFileSync(file, `atlassian: { tokenUrl: ${fake.tokenUrl}, apiUrl: ${fake.url}, siteUrl: "${fake.siteUrl}" }\n`)
  const command = [process.execPath, '--import', 'tsx', CLI, 'init', '--config', file].map((part) => `'${part}'`).join(' ')
  const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: path.dirname(CLI), env: cliEnv({ TERM: 'dumb' }), stdio: ['pipe', 'pipe', 'pipe'] })
  t.teardown(() => { child.kill('SIGKILL') })
  let screen = ''
  child.stdout.on('data', (chunk: Buffer) => { screen += chunk.toString() })
  const answer = async (prompt: string, text: string): Promise<void> => {
    while (!screen.includes(prompt)) {
      if (child.exitCode !== null) throw new Error(`exited before "${prompt}": ${screen}`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    screen = screen.replace(prompt, `<${prompt}>`)
    child.stdin.write(`${text}\r`)
  }
  await answer('Atlassian site', 'acme.atlassian.net')
  await answer('Product (jira or confluence)', '')
  await answer('Integration name', '')
  await answer('Credential (oauth or api-token)', '')
  await answer('Caller allowed to use it', 'report-job')
  await answer('OAuth client_id', 'typed-client')
  await answer('OAuth client_secret (not shown)', SECRET)
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  t.equal(code, 0, screen)
  t.notMatch(screen, SECRET, 'the secret never appears on the terminal')
  t.match(screen, '✔ credential: stored for acme-jira as version 1')
  t.match(readFileSync(file, 'utf8'), /acme-jira:\n\s+product: jira\n\s+site: acme\.atlassian\.net/)
})
