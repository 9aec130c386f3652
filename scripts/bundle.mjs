// Bundles the CLI from its TypeScript sources into dist/broker: what `npm start`, the package's bin and the image run
// (tsc still type-checks and emits dist/ for the bench). One tree-shaken, minified ES module graph of a few dozen
// chunks starts faster and holds less memory than about 470 separate modules: each module costs a record, a wrapper,
// its full source kept in V8's heap and its own compile, and zod's namespace drags in its 40 locales unshaken
// (bench/README.md, "footprint"). Dynamic imports stay split into chunks, so what `serve` loads lazily still loads
// only when needed. Run by `npm run build`.
// Usage: node scripts/bundle.mjs [outdir=dist/broker]   (BUNDLE_MINIFY=0: not minified, to read or diff)
import { rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { copyAssets } from './copy-assets.mjs'

/**
 * Left to Node's resolver at run time, as before bundling: packages `serve` loads only on demand (Vault, Redis, MCP,
 * YAML, prom-client's and undici's deep modules through createRequire), and Fastify's schema compilers, which it
 * requires only if a route has a JSON schema (src/http/lazy-schema-compilers.ts). Bundling them would gain nothing at
 * start and would put packages that read their own files or require by computed names at risk.
 */
const EXTERNAL = [
  'node-vault', 'ioredis', '@modelcontextprotocol/sdk', 'turndown', 'marklassian', 'yaml', 'undici', 'prom-client',
  '@fastify/ajv-compiler', '@fastify/fast-json-stringify-compiler',
  // Fastify requires it only in inject() (tests); bundled, its 40 KB of source would sit in every sidecar's heap.
  'light-my-request'
]

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const [outdir = path.join(ROOT, 'dist/broker')] = process.argv.slice(2)
rmSync(outdir, { recursive: true, force: true })
const result = await build({
  entryPoints: [path.join(ROOT, 'src/cli/main.ts')],
  tsconfig: path.join(ROOT, 'tsconfig.json'),
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minifyWhitespace: process.env.BUNDLE_MINIFY !== '0',
  minifySyntax: process.env.BUNDLE_MINIFY !== '0',
  // Names stay as written, so errors' and classes' names (pino's `err.type`), stack frames and CPU profiles read as
  // in the sources. Not through `keepNames`: its `__name()` call on every closure created cost 10% of the hot path's
  // CPU per request (bench/README.md, "one bundle").
  minifyIdentifiers: false,
  // Linked, not inline: a map is read only with --enable-source-maps, and never held in memory otherwise.
  sourcemap: 'linked',
  external: EXTERNAL,
  // The bundled CommonJS packages (Fastify, pino, fast-jwt) call require() for Node's built-ins.
  banner: { js: "import { createRequire as __brokerRequire } from 'node:module'; const require = __brokerRequire(import.meta.url);" },
  logLevel: 'warning',
  metafile: process.env.BUNDLE_METAFILE !== undefined
})
// ops-page.ts reads its assets next to its own module (import.meta.url): in the bundle, the folder of every chunk.
copyAssets(path.join(ROOT, 'src'), outdir, { flat: true })
// BUNDLE_METAFILE=path: what each chunk holds, for esbuild's analyzer (https://esbuild.github.io/analyze/).
if (result.metafile !== undefined) writeFileSync(process.env.BUNDLE_METAFILE, JSON.stringify(result.metafile))
