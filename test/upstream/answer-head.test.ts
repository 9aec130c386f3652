/** Reading the start of an answer: bounded, the whole body handed on in order, and a destroy reaching the source. */
import { PassThrough } from 'node:stream'
import t from 'tap'
import { readAnswerHead } from '../../src/upstream/answer-head.js'

t.test('a long body: at most the limit is held, the rest still streams, in order', async (t) => {
  const source = new PassThrough()
  const pending = readAnswerHead(source, 4_096)
  for (let i = 0; i < 3; i++) source.write(Buffer.alloc(3_000, 97 + i))
  const { head, body } = await pending
  t.equal(head.length, 4_096)
  t.equal(head, 'a'.repeat(3_000) + 'b'.repeat(1_096))
  source.end(Buffer.from('end'))
  const chunks: Buffer[] = []
  for await (const chunk of body) chunks.push(chunk as Buffer)
  t.equal(Buffer.concat(chunks).toString(), 'a'.repeat(3_000) + 'b'.repeat(3_000) + 'c'.repeat(3_000) + 'end')
})

t.test('destroying what was handed on (the caller went away) destroys the upstream body, freeing its connection', async (t) => {
  const source = new PassThrough()
  const pending = readAnswerHead(source, 16)
  source.write(Buffer.alloc(32, 120))
  const { body } = await pending
  body.destroy()
  await new Promise((resolve) => setImmediate(resolve))
  t.ok(source.destroyed)
})

t.test('a short body is read whole; an empty one is empty', async (t) => {
  const short = new PassThrough()
  const pending = readAnswerHead(short, 4_096)
  short.end('{"code":401}')
  const { head, body } = await pending
  t.equal(head, '{"code":401}')
  t.equal((await body.toArray()).join(''), '{"code":401}')
  const empty = new PassThrough()
  const none = readAnswerHead(empty, 4_096)
  empty.end()
  t.equal((await none).head, '')
  t.same(await (await none).body.toArray(), [])
})
