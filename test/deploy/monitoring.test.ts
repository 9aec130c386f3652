/**
 * deploy/prometheus/alerts.yaml and deploy/grafana/atlassian-broker-dashboard.json are valid, and every metric they
 * query is one the broker exports (with the right type for _bucket/_sum/_count), so a renamed metric cannot leave a
 * silent alert or an empty panel behind. Prometheus's own promtool checks the rules and runs their unit tests
 * (deploy/prometheus/alerts.test.yaml); .ci/run installs it (Debian `prometheus`).
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parse } from 'yaml'
import { exportedMetrics } from '../helpers/exported-metrics.js'

const read = (file: string): string => readFileSync(new URL(`../../deploy/${file}`, import.meta.url), 'utf8')

const exported = await exportedMetrics()

/** The broker metrics an expression names; problems for unknown names or suffixes the type does not have. */
function checkExpression (expr: string, where: string): { names: string[], problems: string[] } {
  const names: string[] = []
  const problems: string[] = []
  for (const [name] of expr.matchAll(/atlassian_broker_[a-z0-9_]+/g)) {
    const suffix = /_(bucket|sum|count)$/.exec(name)
    const base = suffix !== null && exported.get(name.slice(0, -suffix[0].length)) === 'histogram' ? name.slice(0, -suffix[0].length) : name
    if (!exported.has(base)) problems.push(`${where}: ${name} is not exported`)
    else if (exported.get(base) === 'histogram' && suffix === null) problems.push(`${where}: histogram ${name} used without _bucket/_sum/_count`)
    names.push(base)
  }
  if (names.length === 0) problems.push(`${where}: names no broker metric`)
  for (const [open, close] of [['(', ')'], ['{', '}'], ['[', ']']] as const) {
    if (expr.split(open).length !== expr.split(close).length) problems.push(`${where}: unbalanced ${open}${close}`)
  }
  return { names, problems }
}

t.test('the broker exports what the files rely on', async (t) => {
  t.ok(exported.size >= 11, [...exported.keys()].join(', '))
  for (const name of exported.keys()) t.match(name, /^atlassian_broker_[a-z_]+(_total|_seconds|_connected|_calls)$/, `${name} follows Prometheus naming (a 0/1 state gauge is named for its state, as "up" is; a count gauge for what it counts)`)
})

t.test('alerts.yaml: valid rule groups over exported metrics, covering the four failure modes', async (t) => {
  interface Rule {
    alert?: string
    expr?: string
    for?: string
    labels?: Record<string, string>
    annotations?: Record<string, string>
  }
  const doc = parse(read('prometheus/alerts.yaml')) as { groups: Array<{ name: string, rules: Rule[] }> }
  t.ok(Array.isArray(doc.groups) && doc.groups.length > 0)
  const alerts = new Map<string, string[]>()
  const problems: string[] = []
  for (const group of doc.groups) {
    t.type(group.name, 'string')
    for (const rule of group.rules) {
      const name = rule.alert ?? '(unnamed)'
      if (typeof rule.alert !== 'string') problems.push('a rule without alert name')
      if (alerts.has(name)) problems.push(`${name} is defined twice`)
      if (typeof rule.expr !== 'string') { problems.push(`${name}: no expr`); continue }
      if (rule.for !== undefined && !/^\d+[smhd]$/.test(rule.for)) problems.push(`${name}: bad for ${rule.for}`)
      if (!['warning', 'critical'].includes(rule.labels?.severity ?? '')) problems.push(`${name}: severity must be warning or critical`)
      if (!rule.annotations?.summary || !rule.annotations.description) problems.push(`${name}: needs summary and description`)
      const checked = checkExpression(rule.expr, name)
      problems.push(...checked.problems)
      alerts.set(name, checked.names)
    }
  }
  t.same(problems, [])
  const uses = (metric: string): boolean => [...alerts.values()].some((names) => names.includes(metric))
  t.ok(uses('atlassian_broker_credential_expiry_timestamp_seconds'), 'credential expiring')
  t.ok(uses('atlassian_broker_token_exchanges_total'), 'exchanges failing')
  t.ok(uses('atlassian_broker_upstream_rate_limited_total'), 'sustained upstream 429s')
  t.ok(uses('atlassian_broker_secret_store_errors_total'), 'secret store unreachable')
})

t.test('the Grafana dashboard: valid panels over exported metrics, one per concern', async (t) => {
  interface Target { refId?: string, expr?: string }
  interface Panel {
    id: number
    type: string
    title: string
    gridPos: { x: number, y: number, w: number, h: number }
    targets?: Target[]
  }
  const dashboard = JSON.parse(read('grafana/atlassian-broker-dashboard.json')) as {
    uid: string
    title: string
    schemaVersion: number
    panels: Panel[]
    templating: { list: Array<{ name: string, type: string, query: unknown }> }
  }
  t.equal(dashboard.uid, 'atlassian-broker')
  t.type(dashboard.schemaVersion, 'number')
  const problems: string[] = []
  const ids = new Set<number>()
  const used = new Set<string>()
  for (const panel of dashboard.panels) {
    if (ids.has(panel.id)) problems.push(`panel id ${panel.id} twice`)
    ids.add(panel.id)
    const { x, w } = panel.gridPos
    if (x < 0 || w < 1 || x + w > 24) problems.push(`${panel.title}: outside the 24-column grid`)
    if (panel.type === 'row') continue
    if (!panel.targets?.length) problems.push(`${panel.title}: no query`)
    const refIds = new Set<string>()
    for (const target of panel.targets ?? []) {
      if (typeof target.refId !== 'string' || refIds.has(target.refId)) problems.push(`${panel.title}: refIds must be unique`)
      refIds.add(target.refId ?? '')
      const checked = checkExpression(target.expr ?? '', panel.title)
      problems.push(...checked.problems)
      for (const name of checked.names) used.add(name)
    }
  }
  for (const variable of dashboard.templating.list) {
    if (variable.type !== 'query') continue
    const query = (variable.query as { query: string }).query
    problems.push(...checkExpression(query, `variable ${variable.name}`).problems)
  }
  t.same(problems, [])
  t.same([...exported.keys()].filter((name) => !used.has(name)), [], 'every exported metric has a panel')
})

const PROMTOOL = process.env.PROMTOOL ?? 'promtool'
const promtoolMissing = spawnSync(PROMTOOL, ['--version']).error !== undefined

t.test('promtool: the rules check and their unit tests pass', { skip: promtoolMissing ? `${PROMTOOL} is not installed (Debian package prometheus; .ci/run installs it)` : false }, async (t) => {
  const dir = fileURLToPath(new URL('../../deploy/prometheus/', import.meta.url))
  for (const args of [['check', 'rules', 'alerts.yaml'], ['test', 'rules', 'alerts.test.yaml']]) {
    const run = spawnSync(PROMTOOL, args, { cwd: dir, encoding: 'utf8' })
    t.equal(run.status, 0, `promtool ${args.join(' ')}\n${run.stdout}${run.stderr}`)
  }
})
