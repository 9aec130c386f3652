/** The one capped body reader: a body under the cap is read whole; past it, what was read is cut at the cap, the
 *  rest is never pulled, and the source is destroyed (its connection dropped). */
import { Readable } from 'node:stream'
import t from 'tap'
import { readBounded } from '../../src/atlassian/bounded-body.js'

function chunks (count: number, size: number): { body: Readable, pulled: () => number } {
  let pulled = 0
  const body = new Readable({
    read () {
      if (pulled === count) { this.push(null); return }
      pulled++
      this.push(Buffer.alloc(size, 'a'))
    }
  })
  return { body, pulled: () => pulled }
}

t.test('under the cap: the whole body, not truncated', async (t) => {
  const { body } = chunks(3, 10)
  t.same(await readBounded(body, 30), { text: 'a'.repeat(30), truncated: false })
})

t.test('past the cap: cut at the cap, the source destroyed, the rest never pulled', async (t) => {
  const { body, pulled } = chunks(100_000, 1_024)
  const read = await readBounded(body, 4_096 + 10)
  t.equal(read.truncated, true)
  t.equal(read.text.length, 4_096 + 10, 'exactly the cap is kept')
  t.ok(body.destroyed, 'the source is destroyed')
  t.ok(pulled() < 100, `only the start was pulled (${pulled()} of 100000 chunks)`)
})
