/**
 * settleHeap (src/cli/settle-heap.ts): one memory-reducing full collection, through gc()'s last-resort flavor on
 * V8 12 and later, through v8.queryObjects on V8 11 (Node 20). The RSS it gives back is measured by the bench's
 * footprint scenario, not here; here, that the young generation start-up grew is shrunk and its garbage collected.
 */
import v8 from 'node:v8'
import t from 'tap'
import { settleHeap } from '../../src/cli/settle-heap.js'

const young = (): v8.HeapSpaceInfo => v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space') as v8.HeapSpaceInfo

/** What start-up does: many small objects that survive scavenges (V8 grows the young generation), then garbage. */
function growYoungGeneration (): void {
  let kept: unknown[] = []
  for (let n = 0; n < 400_000; n++) kept.push({ n, text: `kept-${n}` })
  kept = []
  for (let n = 0; n < 20_000; n++) kept.push({ n, text: `junk-${n}` })
}

// First: the warning is emitted once per process, at the first call.
t.test('V8 11: v8.queryObjects\'s experimental warning is not printed', async (t) => {
  const warnings: string[] = []
  const listener = (warning: Error): void => { warnings.push(warning.message) }
  process.on('warning', listener)
  t.teardown(() => { process.off('warning', listener) })
  settleHeap('11.3.244.8-node.38')
  await new Promise((resolve) => setImmediate(resolve))
  t.same(warnings.filter((message) => message.includes('queryObjects')), [])
})

const paths: Array<[string, string]> = [['11.3.244.8-node.38', 'v8.queryObjects'], ['12.4.254.21', 'gc() last resort']]
for (const [v8Version, how] of paths) {
  t.test(`V8 ${v8Version.split('.')[0]} (${how}): the young generation shrinks and its garbage is collected`, async (t) => {
    growYoungGeneration()
    const before = young()
    t.ok(before.space_size > 2 * 1_048_576, `start-up grew the young generation (${before.space_size} bytes)`)
    t.equal(settleHeap(v8Version), true)
    const after = young()
    t.ok(after.space_used_size < before.space_used_size,
      `garbage collected (${before.space_used_size} -> ${after.space_used_size} bytes used)`)
    if (Number(process.versions.v8.split('.')[0]) >= 12 || how === 'v8.queryObjects') {
      t.ok(after.space_size < before.space_size, `shrunk (${before.space_size} -> ${after.space_size} bytes committed)`)
    }
  })
}
