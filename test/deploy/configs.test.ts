/**
 * Every broker config shipped under deploy/, and every ```yaml block in the docs that looks like one, passes
 * `atlassian-broker check --offline`; the Compose example hangs together (services, files, env, script).
 * A doc block preceded by `<!-- check: skip -->` is an excerpt and is not checked.
 */
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import { promisify } from 'node:util'
import t from 'tap'
import { runCheck } from '../../src/cli/check-command.js'
import { parseConfig } from '../../src/config/load.js'
import { DEPLOY, filesUnder, isKubernetesObject, isYaml, parseYamlDocuments, readYamlDocuments, ROOT } from './deploy-files.js'

const run = promisify(execFile)

/** The top-level keys of the config schema (src/config/schema.ts): each has a default, so {} shows them all. */
const CONFIG_KEYS = new Set(Object.keys(parseConfig({}, 'defaults', {})))

function looksLikeBrokerConfig (value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || isKubernetesObject(value)) return false
  const keys = Object.keys(value)
  return keys.length > 0 && keys.every((key) => CONFIG_KEYS.has(key))
}

/** Values for the `${VAR}` references a config makes: a UUID where a cloudId is expected, a word elsewhere. */
function placeholderEnv (text: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [, name] of text.matchAll(/\$\{([A-Z_][A-Z0-9_]*)(?::-[^}]*)?\}/gi)) {
    env[name as string] = /CLOUD_ID/i.test(name as string) ? '11111111-2222-3333-4444-555555555555' : 'placeholder-value'
  }
  return env
}

async function checkOffline (
  text: string,
  label: string,
  env: NodeJS.ProcessEnv
): Promise<{ ok: boolean, report: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'broker-config-'))
  try {
    const file = path.join(dir, path.basename(label).replace(/[^a-z0-9.-]/gi, '_') + '.yaml')
    writeFileSync(file, text)
    let report = ''
    const out = new Writable({
      write (chunk: Buffer, _encoding, done) {
        report += chunk.toString()
        done()
      }
    })
    return { ok: await runCheck(file, { offline: true, out, env }), report }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const shippedConfigs = filesUnder(DEPLOY).filter(isYaml).filter((file) => {
  const documents = readYamlDocuments(file)
  return documents.length === 1 && looksLikeBrokerConfig(documents[0])
})

t.test('every broker config under deploy/ passes check --offline', async (t) => {
  t.same(shippedConfigs, ['deploy/compose/broker.yaml', 'deploy/docker/config.yaml', 'deploy/kubernetes/broker.yaml'])
  for (const file of shippedConfigs) {
    const text = readFileSync(path.join(ROOT, file), 'utf8')
    const { ok, report } = await checkOffline(text, file, placeholderEnv(text))
    t.ok(ok, `${file}\n${report}`)
  }
})

t.test('configs meant for containers listen on all interfaces where probes or published ports must reach them', async (t) => {
  for (const file of shippedConfigs) {
    const [config] = readYamlDocuments(file) as Array<{
      listen?: { host?: string }
      metrics?: { listen?: { host?: string } }
      dataDir?: string
    }>
    if (file === 'deploy/kubernetes/broker.yaml') {
      // The sidecar's callers share its pod: /proxy stays on loopback, and probes and scrapes use the metrics listener.
      t.equal(config?.listen?.host, '127.0.0.1', `${file}: /proxy only on loopback`)
      t.equal(config?.metrics?.listen?.host, '0.0.0.0', `${file}: the metrics listener reaches the pod IP`)
    } else {
      t.equal(config?.listen?.host, '0.0.0.0', `${file}: probes and published ports reach the container's interface, not its loopback`)
    }
    t.equal(config?.dataDir, '/var/lib/atlassian-broker', `${file}: the data dir is the image's VOLUME`)
  }
})

/** ```yaml blocks of a Markdown file, with the line they start on; blocks after `<!-- check: skip -->` are left out. */
function yamlBlocks (markdown: string): Array<{ line: number, text: string }> {
  const blocks: Array<{ line: number, text: string }> = []
  const lines = markdown.split('\n')
  for (let index = 0; index < lines.length; index++) {
    if (!/^\s*```ya?ml\s*$/.test(lines[index] as string)) continue
    const skip = /<!--\s*check:\s*skip\s*-->/.test(lines[index - 1] ?? '') || /<!--\s*check:\s*skip\s*-->/.test(lines[index - 2] ?? '')
    const start = index + 1
    let end = start
    while (end < lines.length && !/^\s*```\s*$/.test(lines[end] as string)) end++
    if (!skip) blocks.push({ line: start + 1, text: lines.slice(start, end).join('\n') })
    index = end
  }
  return blocks
}

t.test('broker configs in the docs pass check --offline', async (t) => {
  // The README's deep topics live on one docs/ page each (docs/vault.md, docs/admin-api.md...): every page is read.
  const pages = readdirSync(path.join(ROOT, 'docs')).filter((file) => file.endsWith('.md')).map((file) => `docs/${file}`)
  const docs = ['README.md', 'deploy/kubernetes/README.md', ...pages].filter((file) => existsSync(path.join(ROOT, file)))
  t.ok(docs.includes('deploy/kubernetes/README.md'), 'the Kubernetes README exists')
  t.ok(docs.includes('docs/operations.md') && docs.includes('docs/vault.md'), 'the docs pages are read')
  let checked = 0
  for (const doc of docs) {
    for (const block of yamlBlocks(readFileSync(path.join(ROOT, doc), 'utf8'))) {
      const label = `${doc}:${block.line}`
      let documents: unknown[]
      try { documents = parseYamlDocuments(block.text, label) } catch (error) { t.fail(String(error)); continue }
      if (documents.length !== 1 || !looksLikeBrokerConfig(documents[0])) continue
      checked++
      const { ok, report } = await checkOffline(block.text, label, placeholderEnv(block.text))
      t.ok(ok, `${label}\n${report}`)
    }
  }
  t.ok(checked >= 1, `checked ${checked} config blocks`)
})

interface ComposeService {
  image?: string
  build?: { context: string, dockerfile: string }
  environment?: Record<string, string>
  volumes?: string[]
  ports?: string[]
  read_only?: boolean
  cap_drop?: string[]
}

t.test('the Compose example hangs together', async (t) => {
  const compose = path.join(DEPLOY, 'compose')
  const [file] = readYamlDocuments('deploy/compose/docker-compose.yaml') as Array<{ services: Record<string, ComposeService> }>
  const { vault, broker } = file?.services ?? {}
  t.equal(vault?.image, 'hashicorp/vault:1.15')
  t.ok(vault?.environment?.VAULT_DEV_ROOT_TOKEN_ID, 'a known dev root token')
  t.ok(broker?.build, 'the broker is built here')
  t.ok(existsSync(path.join(compose, broker?.build?.context ?? '-', broker?.build?.dockerfile ?? '-')), 'from the top-level Dockerfile')
  t.ok(broker?.read_only, 'read-only root filesystem')
  t.same(broker?.cap_drop, ['ALL'])
  for (const port of [...(vault?.ports ?? []), ...(broker?.ports ?? [])]) t.match(port, /^127\.0\.0\.1:/, `${port}: published on loopback only`)

  const configMount = (broker?.volumes ?? []).find((volume) => volume.endsWith(':/etc/atlassian-broker/config.yaml:ro'))
  const configFile = path.join(compose, String(configMount?.split(':')[0]))
  t.ok(existsSync(configFile), 'the broker config is mounted at BROKER_CONFIG')
  const configText = readFileSync(configFile, 'utf8')
  for (const name of Object.keys(placeholderEnv(configText))) t.ok(broker?.environment?.[name] !== undefined, `the broker's environment sets ${name}`)
  const config = parseYamlDocuments(configText, 'broker.yaml')[0] as { secrets: { store: string, vault: { address: string, mount: string, prefix: string, auth: { method: string } } }, policy: Array<{ caller: string, integration: string }> }
  t.equal(config.secrets.store, 'vault')
  t.equal(config.secrets.vault.auth.method, 'token')
  t.equal(new URL(config.secrets.vault.address).hostname, 'vault', 'reaches the vault service by name')

  const script = readFileSync(path.join(compose, 'try-it.sh'), 'utf8')
  const rule = config.policy[0]
  const kvPath = `${config.secrets.vault.mount}/${config.secrets.vault.prefix}/${rule?.integration}`
  t.match(script, new RegExp(`docker compose exec -T vault \\\\\\n\\s+vault kv put ${kvPath.replace(/\//g, '\\/')} client_id=`), `writes the credential where the broker reads it (${kvPath})`)
  t.match(script, new RegExp(`docker compose exec -T broker node dist/broker/main\\.js caller-token --sub ${rule?.caller}\\b`), 'mints a token for the caller the policy allows')
  t.match(script, /client_secret=-/, 'the secret goes through stdin, never a command line')
})

t.test('the shell scripts are syntactically valid', async (t) => {
  for (const script of ['deploy/compose/try-it.sh', 'test/deploy/kustomize.sh']) {
    await t.resolves(run('bash', ['-n', path.join(ROOT, script)]), `bash -n ${script}`)
  }
  await t.resolves(run('sh', ['-n', path.join(ROOT, 'deploy/kubernetes/report.sh')]), 'sh -n report.sh (the curl image has no bash)')
})
