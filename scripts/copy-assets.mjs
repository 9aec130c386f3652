// Copies the files tsc does not emit (the ops page's HTML, CSS and browser JS) from src/ into the build output, keeping
// their paths, so dist/src/http/ops-page/ops-page.ts's compiled form finds them next to it. Run by `npm run build`.
// Usage: node scripts/copy-assets.mjs [sourceRoot=src] [outputRoot=dist/src]
import { cpSync, readdirSync } from 'node:fs'
import path from 'node:path'

/** Folders holding assets, relative to the source root; every file in them that tsc does not compile is copied. */
const ASSET_FOLDERS = ['http/ops-page']
const COMPILED = /\.(ts|mts|cts)$/

const [sourceRoot = 'src', outputRoot = 'dist/src'] = process.argv.slice(2)
let copied = 0
for (const folder of ASSET_FOLDERS) {
  for (const name of readdirSync(path.join(sourceRoot, folder))) {
    if (COMPILED.test(name)) continue
    // tsc writes x.ts as x.js into the same folder: an asset of that name would overwrite the compiled module.
    const stem = name.replace(/\.[^.]+$/, '')
    if (name.endsWith('.js') && readdirSync(path.join(sourceRoot, folder)).includes(`${stem}.ts`)) {
      throw new Error(`${folder}/${name} would overwrite the compiled ${stem}.ts: rename the asset`)
    }
    cpSync(path.join(sourceRoot, folder, name), path.join(outputRoot, folder, name))
    copied++
  }
}
if (copied === 0) throw new Error(`no asset found under ${sourceRoot}`)
