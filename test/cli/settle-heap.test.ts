/**
 * settleHeap (src/cli/settle-heap.ts): on V8 12 and later one memory-reducing full collection runs; V8 11 (Node 20)
 * is left alone. The RSS it gives back is measured by the bench's footprint scenario, not here.
 */
import v8 from 'node:v8'
import t from 'tap'
import { settleHeap } from '../../src/cli/settle-heap.js'

t.test('V8 11 (Node 20) is left alone', async (t) => {
  t.equal(settleHeap('11.3.244.8-node.38'), false)
})

t.test('V8 12 and later: a full collection runs and leaves no young garbage behind', async (t) => {
  // Garbage in the young generation, then the collection: what survives is only what is still referenced.
  let junk: unknown[] = []
  for (let n = 0; n < 20_000; n++) junk.push({ n, text: `junk-${n}` })
  junk = []
  const youngUsed = (): number => v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_used_size ?? 0
  const before = youngUsed()
  t.equal(settleHeap('12.4.254.21'), true)
  const after = youngUsed()
  t.ok(after < before, `the young generation's garbage collected (${before} -> ${after} bytes used)`)
})
