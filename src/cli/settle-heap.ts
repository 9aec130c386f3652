/**
 * Start-up's garbage, given back once `serve` is ready. Loading and compiling the modules grows V8's young generation
 * to its maximum (16 MB committed for 1–3 MB live at ready), and V8's own memory reducer did not shrink it within 90 s
 * on Node 26 (bench/README.md, "footprint"). One full collection of V8's memory-reducing "last resort" flavor, a moment
 * after ready, shrinks it and releases the pages: about 11 MB of RSS per pod on Node 26, once, for one pause of a few
 * tens of ms before any traffic. V8 11 (Node 20) has no such flavor from JavaScript: a full collection there gave
 * nothing back (Node 20's reducer shrinks the young generation by itself after about 30 s idle), so it is skipped.
 * `gc` is reached through V8's --expose-gc flag set at run time, which installs it in contexts created afterwards.
 */
import v8 from 'node:v8'
import vm from 'node:vm'

type Gc = (options: { type: 'major', execution: 'sync', flavor: 'last-resort' }) => void

/** Runs the collection; false when this V8 cannot shrink the heap that way (or refuses the flag). */
export function settleHeap (v8Version: string = process.versions.v8): boolean {
  if (Number(v8Version.split('.')[0]) < 12) return false
  v8.setFlagsFromString('--expose-gc')
  const gc = vm.runInNewContext('gc') as unknown
  if (typeof gc !== 'function') return false
  ;(gc as Gc)({ type: 'major', execution: 'sync', flavor: 'last-resort' })
  return true
}

/** `serve` calls this once ready; the timer does not keep a stopping process alive. */
export function settleHeapSoon (delayMs = 200): void {
  setTimeout(() => { settleHeap() }, delayMs).unref()
}
