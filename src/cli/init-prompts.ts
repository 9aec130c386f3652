/**
 * `init`'s questions in a terminal: plain answers echo, secrets do not. Only used when stdin is a TTY. Each answer is
 * checked as soon as it is typed (init-answers.ts) and a bad one is asked again at once, before the next question.
 */
import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'
import { normalizeSiteInput } from '../config/site-name.js'
import { ANSWER_PROBLEMS, type InitFlags } from './init-answers.js'
import { UsageError } from './io.js'

export interface Prompter {
  ask (question: string, fallback?: string): Promise<string>
  askSecret (question: string): Promise<string>
  close (): void
}

export function createPrompter (input: NodeJS.ReadableStream, output: NodeJS.WritableStream): Prompter {
  let muted = false
  // Echo goes through this stream, so a secret's keystrokes are swallowed while `muted`.
  const echo = new Writable({
    write (chunk: Buffer | string, _encoding, done) {
      if (!muted) output.write(chunk)
      done()
    }
  })
  const rl = createInterface({ input, output: echo, terminal: (input as NodeJS.ReadStream).isTTY === true })
  let ended = false
  let pending: ((error: Error) => void) | undefined
  // Ctrl-D (or a closed input) leaves a question unanswered: end init with a message instead of hanging.
  rl.once('close', () => {
    ended = true
    pending?.(new UsageError('init was not answered (input ended); nothing was written'))
  })
  const question = async (text: string): Promise<string> => await new Promise((resolve, reject) => {
    if (ended) return reject(new UsageError('init was not answered (input ended); nothing was written'))
    pending = reject
    rl.question(text, (answer) => { pending = undefined; resolve(answer) })
  })
  return {
    async ask (text, fallback) {
      const answer = (await question(`${text}${fallback === undefined ? '' : ` [${fallback}]`}: `)).trim()
      return answer === '' ? fallback ?? '' : answer
    },
    async askSecret (text) {
      output.write(`${text} (not shown): `)
      muted = true
      try {
        return (await question('')).trim()
      } finally {
        muted = false
        output.write('\n')
      }
    },
    close: () => rl.close()
  }
}

/** Asks for every answer the flags left out, each until it is acceptable; the credential's JSON comes last. */
export async function askMissing (
  flags: InitFlags,
  prompter: Prompter,
  out: NodeJS.WritableStream
): Promise<{ flags: InitFlags, credentialJson: string }> {
  const valid = async (
    given: string | undefined,
    question: string,
    fallback: string | undefined,
    problem: (value: string) => string | undefined,
    ask: (question: string, fallback?: string) => Promise<string> = prompter.ask
  ): Promise<string> => {
    if (given !== undefined) return given
    for (;;) {
      const answer = await ask(question, fallback)
      const why = problem(answer)
      if (why === undefined) return answer
      out.write(`  ✖ ${why}; try again\n`)
    }
  }
  const secret = (value: string): string | undefined => value === '' ? 'nothing was typed' : undefined
  const site = await valid(flags.site, 'Atlassian site (e.g. acme.atlassian.net)', undefined, ANSWER_PROBLEMS.site)
  const product = await valid(flags.product, 'Product (jira or confluence)', 'jira', ANSWER_PROBLEMS.product)
  const integration = await valid(flags.integration, 'Integration name', `${normalizeSiteInput(site).split('.')[0] ?? 'site'}-${product}`, ANSWER_PROBLEMS.integration)
  const credential = await valid(flags.credential, 'Credential (oauth or api-token)', 'oauth', ANSWER_PROBLEMS.credential)
  const caller = await valid(flags.caller, 'Caller allowed to use it (JWT sub)', `${integration}-reader`, ANSWER_PROBLEMS.caller)
  const document = credential === 'api-token'
    ? { token: await valid(undefined, 'API token', undefined, secret, prompter.askSecret) }
    : {
        client_id: await valid(undefined, 'OAuth client_id', undefined, secret),
        client_secret: await valid(undefined, 'OAuth client_secret', undefined, secret, prompter.askSecret)
      }
  return {
    flags: { ...flags, site, product, integration, credential, caller },
    credentialJson: JSON.stringify(document)
  }
}
