/**
 * Issue 24 §5: six `secrets put` of different integrations, run in parallel, lost 7 of 18 versions and all exited 0.
 * Real CLI processes here: each integration gets three puts in a row, the six chains run at once, and every
 * acknowledged version must be in the store afterwards.
 */
import { readdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { stringify } from 'yaml'
import { cliEnv, runCli } from '../helpers/cli.js'

const INTEGRATIONS = ['jira-1', 'jira-2', 'jira-3', 'jira-4', 'jira-5', 'jira-6']

t.test('regression: six parallel chains of secrets put lose no acknowledged version', async (t) => {
  const dir = t.testdir({})
  const integrations = Object.fromEntries(INTEGRATIONS.map((name, index) => [name, { product: 'jira', cloudId: `11111111-1111-4111-8111-00000000000${index}` }]))
  writeFileSync(path.join(dir, 'atlassian-broker.yaml'), stringify({ integrations }))
  // Without BROKER_MASTER_KEY: the processes also race to create the key file, and must all end up with one key.
  const env = cliEnv()
  const acknowledged: string[] = []
  await Promise.all(INTEGRATIONS.map(async (name) => {
    for (let round = 1; round <= 3; round++) {
      const credential = { client_id: `${name}-${round}`, client_secret: `secret-${name}-${round}-0123456789` }
      const put = await runCli(['secrets', 'put', name, '--no-verify'], { cwd: dir, env, stdin: JSON.stringify(credential) })
      t.equal(put.code, 0, put.stderr)
      if (put.code === 0) acknowledged.push(`${name} v${/as version (\d+)/.exec(put.stdout)?.[1] ?? '?'}`)
    }
  }))
  t.equal(acknowledged.length, 18)
  const list = await runCli(['secrets', 'list', '--json'], { cwd: dir, env })
  t.equal(list.code, 0, list.stderr)
  const rows = JSON.parse(list.stdout) as Array<{ integration: string, version: number }>
  t.same(rows.map((row) => [row.integration, row.version]), INTEGRATIONS.map((name) => [name, 3]), 'every integration is at version 3')
  for (const name of INTEGRATIONS) {
    const history = await runCli(['secrets', 'history', name, '--json'], { cwd: dir, env })
    const { versions: kept } = JSON.parse(history.stdout) as { versions: Array<{ version: number }> }
    const versions = kept.map((entry) => entry.version)
    t.same(versions.sort(), [1, 2, 3], `${name}: versions 1, 2 and 3 are kept`)
  }
  t.same(readdirSync(path.join(dir, '.broker')).sort(), ['secrets.enc', 'secrets.enc.key'], 'no lock or temp file is left')
})
