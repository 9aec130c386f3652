/**
 * The Dockerfile, checked statically with dockerfile-ast (no Docker daemon needed): pinned multi-stage build,
 * non-root numeric USER, no remote ADD, exec-form ENTRYPOINT/CMD/HEALTHCHECK, and a runtime stage that copies only
 * what the npm package ships (`npm pack --dry-run`), so the image and the package cannot drift apart.
 */
import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { DockerfileParser, type Copy, type Instruction } from 'dockerfile-ast'
import t from 'tap'
import { ROOT } from './deploy-files.js'

const run = promisify(execFile)
const text = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8')
const dockerfile = DockerfileParser.parse(text)

interface Stage { name: string | null, image: string, instructions: Instruction[] }

/** Instructions grouped by the FROM that starts each stage. */
function stages (): Stage[] {
  const found: Stage[] = []
  for (const instruction of dockerfile.getInstructions()) {
    if (instruction.getKeyword() === 'FROM') {
      const from = dockerfile
        .getFROMs()
        .find((candidate) => candidate.getRange().start.line === instruction.getRange().start.line)
      found.push({ name: from?.getBuildStage() ?? null, image: from?.getImage() ?? '', instructions: [] })
    } else {
      found.at(-1)?.instructions.push(instruction)
    }
  }
  return found
}

const keyword = (stage: Stage, name: string): Instruction[] =>
  stage.instructions.filter((instruction) => instruction.getKeyword() === name)
/** Exec (JSON) form: the arguments (flags are kept apart; HEALTHCHECK's start with CMD) start with "[". */
const isExecForm = (instruction: Instruction): boolean => (instruction.getArgumentsContent() ?? '').replace(/^CMD\s+/, '').trim().startsWith('[')
/** COPY sources (all arguments but the last; dockerfile-ast keeps flags apart), and the --from stage if any. */
function copySources (instruction: Instruction): { from: string | undefined, sources: string[] } {
  const from = (instruction as Copy).getFromFlag()?.getValue() ?? undefined
  return { from, sources: instruction.getArguments().map((argument) => argument.getValue()).slice(0, -1) }
}

t.test('the Dockerfile parses and has no syntax problems', async (t) => {
  t.ok(dockerfile.getInstructions().length > 10)
  t.equal(dockerfile.getDirective()?.getValue(), 'docker/dockerfile:1', 'names its frontend')
})

t.test('multi-stage, every base pinned by exact version tag or digest', async (t) => {
  const all = stages()
  t.ok(all.length >= 2, 'multi-stage')
  t.equal(all[0]?.name, 'build')
  for (const stage of all) {
    const from = stage.image
    const [, tag] = /^[^:@]+(?::([^@]+))?(?:@sha256:[0-9a-f]{64})?$/.exec(from) ?? []
    const digest = /@sha256:[0-9a-f]{64}$/.test(from)
    t.ok(digest || (tag !== undefined && /^\d+\.\d+\.\d+(-[a-z0-9.-]+)?$/.test(tag)), `${from}: exact x.y.z tag or a digest`)
    t.notMatch(from, /:latest\b/, `${from}: not latest`)
  }
})

/** `^x.y.z` ranges of an engines string joined by `||` (the only form package.json uses). */
function caretRanges (engines: string): Array<[number, number, number]> {
  return engines.split('||').map((range) => {
    const match = /^\^(\d+)\.(\d+)\.(\d+)$/.exec(range.trim())
    if (match === null) throw new Error(`engines range is not ^x.y.z: ${range}`)
    return [Number(match[1]), Number(match[2]), Number(match[3])]
  })
}
const satisfies = (version: number[], [major, minor, patch]: [number, number, number]): boolean =>
  version[0] === major && ((version[1] ?? 0) > minor || (version[1] === minor && (version[2] ?? 0) >= patch))

t.test('one Node LTS release: the image, CI\'s second test run and engines agree; engines admits the machine\'s Node 20', async (t) => {
  const tags = stages().map((stage) => /^node:(\d+\.\d+\.\d+)-/.exec(stage.image)?.[1])
  const image = tags[0] ?? ''
  t.match(image, /^\d+\.\d+\.\d+$/, 'node base pinned to an exact x.y.z')
  t.ok(tags.every((tag) => tag === image), 'every stage on the same Node release')
  t.equal(Number(image.split('.')[0]) % 2, 0, 'an even (LTS) major')
  // In December 2026 Node 26 is the active LTS line (since October 2026), 24 is in maintenance and 20 is end of life.
  t.ok(Number(image.split('.')[0]) >= 26, 'the active LTS line, not a maintenance or end-of-life one')

  const ci = readFileSync(path.join(ROOT, '.ci/run'), 'utf8')
  t.equal(/^NODE_LTS=(\S+)$/m.exec(ci)?.[1], image, '.ci/run runs the suite on the image\'s Node too')
  t.match(ci, /fetch-node\.sh "\$NODE_LTS"/, 'fetched from the npm registry by exact version')

  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }
  const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { engines?: { node: string } }> }
  t.equal(lock.packages['']?.engines?.node, pkg.engines.node, 'the lockfile agrees')
  const ranges = caretRanges(pkg.engines.node)
  const version = (text: string): number[] => text.replace(/^v/, '').split('.').map(Number)
  t.ok(ranges.some((range) => satisfies(version(image), range)), `engines ${pkg.engines.node} admits the image's ${image}`)
  t.ok(ranges.some((range) => satisfies(version(process.version), range)), `engines admits the Node running this test (${process.version})`)
  t.ok(ranges.some((range) => range[0] === 20), 'engines keeps Node 20: the README\'s commands still run on it')
  t.same(ranges.map((range) => range[0]), [20, Number(image.split('.')[0])], 'only the tested lines: 20 and the image\'s')
  t.match(readFileSync(path.join(ROOT, 'README.md'), 'utf8'), /Node 20 is end of life/, 'the README says Node 20 is EOL')
})

t.test('the runtime stage is hardened', async (t) => {
  const runtime = stages().at(-1) as Stage
  const users = keyword(runtime, 'USER')
  t.equal(users.length, 1, 'one USER')
  const user = users[0]?.getArgumentsContent() ?? ''
  t.match(user, /^\d+(:\d+)?$/, 'numeric uid (runAsNonRoot can only verify numbers)')
  t.not(Number(user.split(':')[0]), 0, 'not root')
  t.notOk(keyword(runtime, 'COPY').some((instruction) => (instruction as Copy).getFlags().some((flag) => ['chown', 'chmod'].includes(flag.getName()))),
    'application files stay owned by root: the broker cannot rewrite its own code')

  for (const instruction of dockerfile.getInstructions().filter((candidate) => candidate.getKeyword() === 'ADD')) {
    t.notMatch(instruction.getArgumentsContent() ?? '', /https?:\/\/|git@/, 'no ADD of a URL')
  }

  const entrypoints = keyword(runtime, 'ENTRYPOINT')
  const cmds = keyword(runtime, 'CMD')
  t.equal(entrypoints.length, 1)
  t.equal(cmds.length, 1)
  t.ok(entrypoints.every(isExecForm), 'ENTRYPOINT in exec form (signals reach node)')
  t.ok(cmds.every(isExecForm), 'CMD in exec form')
  t.same(JSON.parse(entrypoints[0]?.getArgumentsContent() ?? 'null'), ['node', 'dist/broker/main.js'])
  t.same(JSON.parse(cmds[0]?.getArgumentsContent() ?? 'null'), ['serve'])

  const healthchecks = keyword(runtime, 'HEALTHCHECK')
  t.equal(healthchecks.length, 1, 'HEALTHCHECK present')
  const healthcheck = healthchecks[0]?.getArgumentsContent() ?? ''
  t.ok(isExecForm(healthchecks[0] as Instruction), 'HEALTHCHECK CMD in exec form')
  t.match(healthcheck, /\["node",.*\/healthz/, 'calls /healthz with node itself')
  t.notMatch(healthcheck, /\bcurl\b|\bwget\b/, 'no curl or wget in a slim image')

  t.match(keyword(runtime, 'EXPOSE').map((instruction) => instruction.getArgumentsContent()).join(' '), /\b8787\b/)
  t.match(keyword(runtime, 'VOLUME').map((instruction) => instruction.getArgumentsContent()).join(' '), /\/var\/lib\/atlassian-broker/)
  t.match(keyword(runtime, 'ENV').map((instruction) => instruction.getArgumentsContent()).join(' '), /BROKER_CONFIG=\/etc\/atlassian-broker\/config\.yaml/)
  t.match(keyword(runtime, 'LABEL').map((instruction) => instruction.getArgumentsContent()).join(' '), /org\.opencontainers\.image\.title/)
  t.notMatch(text, /^\s*(ENV|ARG)\s+\S*(SECRET|TOKEN|PASSWORD|MASTER_KEY)\S*/im, 'no secret baked in through ENV or ARG')
})

t.test('the runtime stage bakes the compile cache where NODE_COMPILE_CACHE points, after the code it caches', async (t) => {
  const runtime = stages().at(-1) as Stage
  const env = keyword(runtime, 'ENV').map((instruction) => instruction.getArgumentsContent()).join(' ')
  const cacheDir = /NODE_COMPILE_CACHE=(\S+)/.exec(env)?.[1]
  t.equal(cacheDir, '/app/compile-cache', 'inside the image, not in the data volume (every pod reads it)')
  const instructions = runtime.instructions.map((instruction) => `${instruction.getKeyword()} ${instruction.getArgumentsContent() ?? ''}`)
  const copied = instructions.findIndex((line) => /^COPY .*\/app\/dist\/broker/.test(line))
  const warmed = instructions.findIndex((line) => line.startsWith('RUN ') && line.includes(`warm-compile-cache.mjs ${cacheDir}`))
  t.ok(copied >= 0 && warmed > copied, 'warmed after dist/broker is copied')
  const user = instructions.findIndex((line) => line.startsWith('USER '))
  t.ok(warmed < user, 'warmed as root, so the broker\'s uid cannot rewrite it')
})

t.test('npm ci in both stages; dev dependencies only in the build stage', async (t) => {
  const [build, runtime] = [stages()[0] as Stage, stages().at(-1) as Stage]
  const runs = (stage: Stage): string => keyword(stage, 'RUN').map((instruction) => instruction.getArgumentsContent()).join('\n')
  t.match(runs(build), /npm ci\b/)
  t.notMatch(runs(build), /--omit=dev/)
  t.match(runs(build), /npm run build/)
  t.match(runs(runtime), /npm ci --omit=dev/)
  t.notMatch(runs(runtime), /npm run build|tsc/)
})

t.test('the runtime stage copies only what `npm pack` ships', async (t) => {
  const runtime = stages().at(-1) as Stage
  const copied: string[] = []
  for (const instruction of keyword(runtime, 'COPY')) {
    const { from, sources } = copySources(instruction)
    if (from !== undefined) {
      t.equal(from, 'build', 'copies from the build stage only')
      // The build stage's WORKDIR is /app: /app/dist/broker is the package's dist/broker.
      for (const source of sources) copied.push(path.posix.relative('/app', source))
    } else {
      copied.push(...sources)
    }
  }
  t.ok(copied.includes('dist/broker'), 'the bundled code')
  t.ok(!copied.some((file) => file === 'src' || file.startsWith('src/') || file.startsWith('test')), 'no sources or tests at run time')

  // `npm pack --dry-run` reads `files` and needs no build: dist/broker is listed by folder prefix.
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 })
  const packed =
    (JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>)[0]?.files.map((file) => file.path) ?? []
  const files = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { files: string[] }
  // npm never packs lockfiles; the image needs package-lock.json only for `npm ci` to install exactly what was tested.
  const installInputs = new Set(['package-lock.json'])
  for (const source of copied) {
    if (installInputs.has(source)) continue
    const shipped = packed.includes(source) || packed.some((file) => file.startsWith(`${source}/`)) ||
      // dist/ exists only after `npm run build`; without it `files` is the promise npm pack keeps.
      (!existsSync(path.join(ROOT, source)) && files.files.some((entry) => source === entry || source.startsWith(`${entry}/`)))
    t.ok(shipped, `${source} is in the npm package too`)
  }
})

t.test('.dockerignore sends only what the Dockerfile copies from the context', async (t) => {
  const lines = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'))
  t.equal(lines[0], '*', 'an allow-list: everything excluded first')
  const allowed = lines.filter((line) => line.startsWith('!')).map((line) => line.slice(1).replace(/\/$/, ''))
  for (const stage of stages()) {
    for (const instruction of keyword(stage, 'COPY')) {
      const { from, sources } = copySources(instruction)
      if (from !== undefined) continue
      for (const source of sources) {
        t.ok(allowed.some((entry) => source === entry || source.startsWith(`${entry}/`)), `${source} is allowed into the build context`)
        t.ok(existsSync(path.join(ROOT, source)), `${source} exists`)
      }
    }
  }
  t.notOk(allowed.some((entry) => entry === '.broker' || entry.startsWith('.env')), 'local secrets never enter the context')
})
