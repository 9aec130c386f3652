/**
 * `atlassian-broker secrets history NAME | head` crashed with an EPIPE stack trace (issue 16, item 6): once the reader
 * closes the pipe, the command stops quietly with exit code 0. The test closes its end of the child's stdout before
 * the child writes anything (it is still starting up), so every write meets a closed pipe.
 */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { stringify } from 'yaml'
import { cliEnv, runCli, startCli } from '../helpers/cli.js'

const MASTER = 'closed-pipe-master-key-passphrase'

async function withClosedStdout (args: string[], cwd: string): Promise<{ code: number | null, stderr: string }> {
  const child = startCli(args, { cwd, env: cliEnv({ BROKER_MASTER_KEY: MASTER }) })
  child.stdout?.destroy()
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  child.stdin?.end()
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  return { code, stderr }
}

t.test('regression: secrets history | head crashed with an EPIPE stack trace; now it ends quietly', async (t) => {
  const dir = t.testdir({})
  writeFileSync(path.join(dir, 'atlassian-broker.yaml'), stringify({
    integrations: { 'jira-main': { product: 'jira', cloudId: '11111111-1111-1111-1111-111111111111' } }
  }))
  const env = cliEnv({ BROKER_MASTER_KEY: MASTER })
  for (const secret of ['closed-pipe-secret-one-0123456789', 'closed-pipe-secret-two-0123456789']) {
    // No Atlassian here: stored without asking it.
    const put = await runCli(['secrets', 'put', 'jira-main', '--no-verify'], { cwd: dir, env, stdin: JSON.stringify({ client_id: 'cid', client_secret: secret }) })
    t.equal(put.code, 0, put.stderr)
  }
  const open = await runCli(['secrets', 'history', 'jira-main'], { cwd: dir, env })
  t.match(open.stdout, /current version 2/, 'with an open pipe the history is printed')

  for (const args of [['secrets', 'history', 'jira-main'], ['secrets', 'history', 'jira-main', '--json'], ['secrets', 'list'], ['--help']]) {
    const closed = await withClosedStdout(args, dir)
    t.equal(closed.code, 0, `${args.join(' ')}: exit 0`)
    t.notMatch(closed.stderr, /EPIPE|Error|at .*\(/, `${args.join(' ')}: no stack trace, no error text`)
  }
})
