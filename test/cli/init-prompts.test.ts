/**
 * Issue 24 §7: interactive `init` asked everything, the secret included, then failed in terms of flags. Each answer is
 * now checked as it is typed and a bad one asked again at once. A scripted Prompter stands in for the terminal (the
 * real terminal path is init-interactive.test.ts).
 */
import { PassThrough } from 'node:stream'
import t from 'tap'
import { askMissing, createPrompter, type Prompter } from '../../src/cli/init-prompts.js'

function scripted (answers: string[]): { prompter: Prompter, asked: string[] } {
  const asked: string[] = []
  const next = async (question: string, fallback?: string): Promise<string> => {
    asked.push(question)
    const answer = answers.shift()
    if (answer === undefined) throw new Error(`no scripted answer for "${question}"`)
    return answer === '' ? fallback ?? '' : answer
  }
  return { prompter: { ask: next, askSecret: async (question) => await next(`${question} (secret)`), close: () => {} }, asked }
}

function output (): { out: PassThrough, text: () => string } {
  const out = new PassThrough()
  let text = ''
  out.on('data', (chunk: Buffer) => { text += chunk.toString() })
  return { out, text: () => text }
}

t.test('regression: a bad answer is asked again at once, before the next question and long before the secret', async (t) => {
  const { prompter, asked } = scripted([
    'evil.example.com', 'acme.atlassian.net',
    'jra', 'jira',
    'bad name!', '',
    'oath', '',
    '',
    '', 'client-id',
    '', 'client-secret-value'
  ])
  const { out, text } = output()
  const answers = await askMissing({}, prompter, out)
  t.same(asked, [
    'Atlassian site (e.g. acme.atlassian.net)', 'Atlassian site (e.g. acme.atlassian.net)',
    'Product (jira or confluence)', 'Product (jira or confluence)',
    'Integration name', 'Integration name',
    'Credential (oauth or api-token)', 'Credential (oauth or api-token)',
    'Caller allowed to use it (JWT sub)',
    'OAuth client_id', 'OAuth client_id',
    'OAuth client_secret (secret)', 'OAuth client_secret (secret)'
  ])
  t.match(text(), /✖ "evil\.example\.com" must end with \.atlassian\.net.*; try again\n/)
  t.match(text(), '✖ jira or confluence; try again')
  t.match(text(), '✖ letters, digits, ".", "_" or "-" (e.g. jira-main); try again')
  t.match(text(), '✖ oauth or api-token; try again')
  t.match(text(), '✖ nothing was typed; try again')
  t.notMatch(text(), 'client-secret-value')
  t.match(answers.flags, { site: 'acme.atlassian.net', product: 'jira', integration: 'acme-jira', credential: 'oauth', caller: 'acme-jira-reader' })
  t.same(JSON.parse(answers.credentialJson), { client_id: 'client-id', client_secret: 'client-secret-value' })
})

t.test('answers given as flags are not asked; an API token is asked as a secret', async (t) => {
  const { prompter, asked } = scripted(['api-token-value'])
  const answers = await askMissing({ site: 'acme.atlassian.net', product: 'confluence', integration: 'wiki', credential: 'api-token', caller: 'job' }, prompter, output().out)
  t.same(asked, ['API token (secret)'])
  t.same(JSON.parse(answers.credentialJson), { token: 'api-token-value' })
})

t.test('input that ends before an answer ends init with a message instead of hanging', async (t) => {
  const input = new PassThrough()
  const prompter = createPrompter(input, output().out)
  const asking = askMissing({}, prompter, output().out)
  input.end()
  await t.rejects(asking, { message: 'init was not answered (input ended); nothing was written' })
})
