/**
 * Start-up's garbage, given back once `serve` is ready. Loading and compiling the modules grows V8's young generation
 * to its maximum (16 MB committed for 1–3 MB live at ready), and V8's own memory reducer did not shrink it within 90 s
 * on Node 26, 30 s on Node 20 (bench/README.md, "footprint"). One memory-reducing full collection a moment after
 * ready shrinks it and releases the pages, once, before any traffic. V8 12 and later (Node 26) run it as gc()'s
 * "last resort" flavor, reached through V8's --expose-gc flag set at run time (it installs `gc` in contexts created
 * afterwards). V8 11 (Node 20) has no such flavor, and a plain full collection gives nothing back; there
 * v8.queryObjects runs it instead: it starts with the same collection (V8's CollectAllAvailableGarbage), then counts
 * the instances of a class that has none. It costs more (the count walks the heap), measured in bench/README.md.
 */
import v8 from 'node:v8'
import vm from 'node:vm'

type Gc = (options: { type: 'major', execution: 'sync', flavor: 'last-resort' }) => void

/** Runs the collection; false when this V8 refuses the flag. */
export function settleHeap (v8Version: string = process.versions.v8): boolean {
  if (Number(v8Version.split('.')[0]) < 12) return collectThroughQueryObjects()
  v8.setFlagsFromString('--expose-gc')
  const gc = vm.runInNewContext('gc') as unknown
  if (typeof gc !== 'function') return false
  ;(gc as Gc)({ type: 'major', execution: 'sync', flavor: 'last-resort' })
  return true
}

class NeverInstantiated {}

function collectThroughQueryObjects (): boolean {
  const emitWarning = process.emitWarning
  // Its one-time ExperimentalWarning would be a pod's only stderr line, about a call the operator did not make.
  process.emitWarning = () => {}
  try {
    v8.queryObjects(NeverInstantiated, { format: 'count' })
  } finally {
    process.emitWarning = emitWarning
  }
  return true
}

/** `serve` calls this once ready; the timer does not keep a stopping process alive. */
export function settleHeapSoon (delayMs = 200): void {
  setTimeout(() => { settleHeap() }, delayMs).unref()
}
