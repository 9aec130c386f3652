/** `init`'s questions in a terminal: plain answers echo, secrets do not. Only used when stdin is a TTY. */
import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'

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
  const question = async (text: string): Promise<string> => await new Promise((resolve) => rl.question(text, resolve))
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
