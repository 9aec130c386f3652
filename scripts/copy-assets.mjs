// Copies the files tsc does not emit (the ops page's HTML, CSS and browser JS) from src/ into a build output, so the
// ops page module finds them next to it: keeping their paths in tsc's dist/src, or flat into the bundle's one folder
// (scripts/bundle.mjs). Run by `npm run build`.
// Usage: node scripts/copy-assets.mjs [sourceRoot=src] [outputRoot=dist/src]
import { cpSync, existsSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** Folders holding assets, relative to the source root; every file in them that tsc does not compile is copied. */
const ASSET_FOLDERS = ['http/ops-page']
const COMPILED = /\.(ts|mts|cts)$/

/** Copies every asset; `flat` drops their folders. Refuses to overwrite compiled code. Returns how many it copied. */
export function copyAssets (sourceRoot = 'src', outputRoot = 'dist/src', { flat = false } = {}) {
  let copied = 0
  for (const folder of ASSET_FOLDERS) {
    for (const name of readdirSync(path.join(sourceRoot, folder))) {
      if (COMPILED.test(name)) continue
      // tsc writes x.ts as x.js into the same folder: an asset of that name would overwrite the compiled module.
      const stem = name.replace(/\.[^.]+$/, '')
      if (name.endsWith('.js') && readdirSync(path.join(sourceRoot, folder)).includes(`${stem}.ts`)) {
        throw new Error(`${folder}/${name} would overwrite the compiled ${stem}.ts: rename the asset`)
      }
      const target = flat ? path.join(outputRoot, name) : path.join(outputRoot, folder, name)
      // The bundle's folder holds its chunks: an asset must never replace one.
      if (flat && existsSync(target)) throw new Error(`${target} already exists in the bundle: rename the asset`)
      cpSync(path.join(sourceRoot, folder, name), target)
      copied++
    }
  }
  if (copied === 0) throw new Error(`no asset found under ${sourceRoot}`)
  return copied
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  copyAssets(...process.argv.slice(2, 4))
}
