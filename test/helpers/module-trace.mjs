// Preloaded with --import in a child process: records every module the process loads (ESM resolutions and CommonJS
// requires) and writes the list to $MODULE_TRACE_FILE when the process exits. test/build/serve-footprint.test.ts.
import { appendFileSync, writeFileSync } from 'node:fs'
import { createRequire, register } from 'node:module'

const file = process.env.MODULE_TRACE_FILE
if (file) {
  writeFileSync(file, '')
  register(new URL('data:text/javascript,' + encodeURIComponent(`
import { appendFileSync } from 'node:fs'
export async function resolve (specifier, context, next) {
  const resolved = await next(specifier, context)
  appendFileSync(${JSON.stringify(file)}, resolved.url + '\\n')
  return resolved
}`)))
  const Module = createRequire(import.meta.url)('node:module')
  const load = Module._load
  Module._load = function (request, parent, ...rest) {
    try { appendFileSync(file, Module._resolveFilename(request, parent) + '\n') } catch { /* a builtin or unresolvable */ }
    return load.call(this, request, parent, ...rest)
  }
}
