/**
 * reload.watchFile sees what the path reads, not only events naming the file (issue 24 §4): a Kubernetes ConfigMap
 * (`file -> ..data/file`, `..data -> ..2026_…`, updated by renaming a new `..data` link over the old one) and an edit
 * of a symlink's target each missed a revocation.
 */
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { LiveConfig } from '../../src/config/live-config.js'
import { loadConfig, requireCloudIds } from '../../src/config/load.js'
import { ConfigReloader, type ReloadOutcome, type SitesAnswer } from '../../src/config/reload.js'
import type { ParsedConfig } from '../../src/config/schema.js'
import { createLogger } from '../../src/logger.js'

const JIRA = '11111111-1111-1111-1111-111111111111'
const WIKI = '22222222-2222-2222-2222-222222222222'
const NAME = 'atlassian-broker.yaml'
const both = `integrations:
  jira-main: { product: jira, cloudId: ${JIRA} }
  wiki-main: { product: confluence, cloudId: ${WIKI} }
`
const jiraOnly = `integrations:\n  jira-main: { product: jira, cloudId: ${JIRA} }\n`
const none = 'integrations: {}\n'

/** Watches `file`; `next()` is the outcome of the next reload the watch starts (bounded: a miss fails, not hangs). */
interface Watching { live: LiveConfig, next: () => Promise<ReloadOutcome | 'no reload'> }

function watching (t: Test, file: string): Watching {
  const running = requireCloudIds(loadConfig(file, {}).config)
  const live = new LiveConfig(running.integrations, running.policy, () => new Date())
  const resolveSites = async (config: ParsedConfig): Promise<SitesAnswer> =>
    ({ config: requireCloudIds(config), problems: [] })
  const logger = createLogger({ level: 'silent' })
  const reloader = new ConfigReloader({ file, live, running, logger, env: {}, resolveSites })
  t.teardown(() => { reloader.close() })
  const waiting: Array<(outcome: ReloadOutcome) => void> = []
  reloader.watchFile((outcome) => { waiting.shift()?.(outcome) })
  const next = async (): Promise<ReloadOutcome | 'no reload'> => await new Promise((resolve) => {
    const bound = setTimeout(() => { resolve('no reload') }, 10_000)
    waiting.push((outcome) => { clearTimeout(bound); resolve(outcome) })
  })
  return { live, next }
}

t.test('regression: a ConfigMap update (the ..data link swapped) was never noticed', async (t) => {
  const dir = t.testdir({ '..2026_01': { [NAME]: both } })
  symlinkSync('..2026_01', path.join(dir, '..data'))
  symlinkSync(path.join('..data', NAME), path.join(dir, NAME))
  const { live, next } = watching(t, path.join(dir, NAME))
  // As the kubelet does it: a new folder, a new link, renamed over ..data in one step, the old folder removed.
  const swap = (folder: string, text: string): void => {
    mkdirSync(path.join(dir, folder))
    writeFileSync(path.join(dir, folder, NAME), text)
    symlinkSync(folder, path.join(dir, '..data_tmp'))
    renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'))
  }
  const first = next()
  swap('..2026_02', jiraOnly)
  rmSync(path.join(dir, '..2026_01'), { recursive: true })
  t.match(await first, { outcome: 'applied', changes: [/wiki-main removed/] })
  t.same(Object.keys(live.integrations), ['jira-main'], 'the revocation applied')
  const second = next()
  swap('..2026_03', none)
  rmSync(path.join(dir, '..2026_02'), { recursive: true })
  t.match(await second, { outcome: 'applied' }, 'the watch followed the link to its new folder')
  t.same(Object.keys(live.integrations), [])
})

t.test('regression: an edit of a symlink\'s target was never noticed', async (t) => {
  const dir = t.testdir({ real: { 'broker.yaml': both }, mounted: {} })
  symlinkSync(path.join('..', 'real', 'broker.yaml'), path.join(dir, 'mounted', NAME))
  const { live, next } = watching(t, path.join(dir, 'mounted', NAME))
  const outcome = next()
  writeFileSync(path.join(dir, 'real', 'broker.yaml'), jiraOnly)
  t.match(await outcome, { outcome: 'applied', changes: [/wiki-main removed/] })
  t.same(Object.keys(live.integrations), ['jira-main'])
})

t.test('a plain file edited in place still reloads', async (t) => {
  const dir = t.testdir({ [NAME]: both })
  const { live, next } = watching(t, path.join(dir, NAME))
  const outcome = next()
  writeFileSync(path.join(dir, NAME), jiraOnly)
  t.match(await outcome, { outcome: 'applied' })
  t.same(Object.keys(live.integrations), ['jira-main'])
})
