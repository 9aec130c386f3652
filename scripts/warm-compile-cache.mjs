// Fills Node's module compile cache at image build time (Dockerfile), so every container, a CronJob pod's first
// start included, reads V8's bytecode instead of compiling the broker's modules. Starts the real `serve` once on the
// embedded defaults (a throwaway data dir and master key, loopback, port 0), waits until it listens, and stops it
// with SIGTERM; `serve` writes the cache once ready (src/cli/compile-cache.ts). Node 20 has no compile cache: then
// this says so and does nothing.
// Usage: node scripts/warm-compile-cache.mjs CACHE_DIR [CLI]   (CLI: default dist/broker/main.js)
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import module from 'node:module'
import os from 'node:os'
import path from 'node:path'

const [cacheDir, cli = 'dist/broker/main.js'] = process.argv.slice(2)
if (cacheDir === undefined) {
  process.stderr.write('usage: node scripts/warm-compile-cache.mjs CACHE_DIR [CLI]\n')
  process.exit(2)
}
if (!('flushCompileCache' in module)) {
  process.stdout.write(`Node ${process.version} has no compile cache (22.10 and later): nothing to warm\n`)
  process.exit(0)
}

const work = mkdtempSync(path.join(os.tmpdir(), 'atlassian-broker-warm-'))
try {
  const config = path.join(work, 'atlassian-broker.yaml')
  writeFileSync(config, JSON.stringify({ listen: { host: '127.0.0.1', port: 0 }, dataDir: path.join(work, 'data') }))
  const env = {
    PATH: process.env.PATH,
    HOME: work,
    NODE_COMPILE_CACHE: path.resolve(cacheDir),
    BROKER_MASTER_KEY: randomBytes(32).toString('hex')
  }
  const child = spawn(process.execPath, [...process.execArgv, cli, 'serve', '--config', config], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const code = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`serve did not listen within 60 s:\n${output}`))
    }, 60_000)
    const onOutput = (chunk) => {
      output += chunk.toString()
      if (/listening on/.test(output)) child.kill('SIGTERM')
    }
    child.stdout.on('data', onOutput)
    child.stderr.on('data', onOutput)
    child.once('error', reject)
    child.once('exit', (exitCode) => {
      clearTimeout(timer)
      resolve(exitCode)
    })
  })
  if (code !== 0) throw new Error(`serve exited ${code}:\n${output}`)
  const files = readdirSync(cacheDir, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile()).length
  if (files === 0) throw new Error(`serve ran but ${cacheDir} holds no cache`)
  process.stdout.write(`compile cache warmed: ${files} modules in ${cacheDir}\n`)
} finally {
  rmSync(work, { recursive: true, force: true })
}
