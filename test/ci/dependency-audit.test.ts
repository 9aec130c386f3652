/**
 * The CI dependency audit (.ci/dependency-audit.ts; issue 16, item 7): high or critical advisories fail CI, an
 * unreachable advisory database is reported loudly as "could not check" and does not, and the SBOM is always written.
 * npm's answers are canned here (tests reach no registry); CI runs the real thing.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { auditVerdict, dependencyAudit, type Runner } from '../../.ci/dependency-audit.js'

/** What npm audit prints when the registry refuses the bulk advisory request (seen on this machine). */
const REFUSED = JSON.stringify({ message: '405 Method Not Allowed - POST https://registry.example/-/npm/v1/security/advisories/bulk', method: 'POST', statusCode: 405, body: '' })
const OFFLINE = JSON.stringify({ error: { code: 'ENOTFOUND', summary: 'request to https://registry.example failed', detail: '' } })
const report = (vulnerabilities: Record<string, string>): string => {
  const counts = { info: 0, low: 0, moderate: 0, high: 0, critical: 0 } as Record<string, number>
  for (const severity of Object.values(vulnerabilities)) counts[severity] = (counts[severity] ?? 0) + 1
  return JSON.stringify({
    auditReportVersion: 2,
    vulnerabilities: Object.fromEntries(Object.entries(vulnerabilities).map(([name, severity]) => [name, { name, severity, via: [], effects: [], range: '*', nodes: [], fixAvailable: true }])),
    metadata: { vulnerabilities: { ...counts, total: Object.keys(vulnerabilities).length }, dependencies: { prod: 73 } }
  })
}
const SBOM = JSON.stringify({ bomFormat: 'CycloneDX', specVersion: '1.5', components: [{ name: 'fastify' }, { name: 'pino' }] })

t.test('auditVerdict: reports, refusals, network failures and noise', async (t) => {
  t.match(auditVerdict(REFUSED), { kind: 'unreachable', reason: /405 Method Not Allowed/ })
  t.match(auditVerdict(OFFLINE), { kind: 'unreachable', reason: /ENOTFOUND/ })
  t.match(auditVerdict('npm error audit endpoint returned an error'), { kind: 'unreachable' })
  t.match(auditVerdict(''), { kind: 'unreachable' })
  t.match(auditVerdict('{}'), { kind: 'unreachable' }, 'an answer without advisory data is no clean bill of health')
  t.same(auditVerdict(report({})), { kind: 'clean', counts: { info: 0, low: 0, moderate: 0, high: 0, critical: 0 } })
  t.match(auditVerdict(report({ 'some-lib': 'moderate', 'other-lib': 'low' })), { kind: 'clean', counts: { moderate: 1, low: 1 } }, 'below high: reported, not failing')
  t.same(auditVerdict(report({ 'bad-lib': 'critical', 'worse-lib': 'high', 'meh-lib': 'moderate' })),
    { kind: 'vulnerable', counts: { info: 0, low: 0, moderate: 1, high: 1, critical: 1 }, packages: ['bad-lib', 'worse-lib'] })
})

t.test('the step: exit 0 and a loud "could not check" when unreachable; exit 1 on high advisories; the SBOM always', async (t) => {
  const cases: Array<[string, string, number, RegExp]> = [
    ['registry refuses', REFUSED, 0, /COULD NOT CHECK[\s\S]*NOTHING is known[\s\S]*405/],
    ['offline', OFFLINE, 0, /COULD NOT CHECK[\s\S]*ENOTFOUND/],
    ['clean', report({ 'some-lib': 'low' }), 0, /checked, no high or critical advisory \(info 0, low 1/],
    ['vulnerable', report({ 'bad-lib': 'high' }), 1, /FAILED: high or critical advisories for bad-lib/]
  ]
  for (const [name, auditOutput, code, message] of cases) {
    const outDir = t.testdir({})
    const calls: string[][] = []
    const runner: Runner = (command, args) => {
      calls.push([command, ...args])
      return args[0] === 'sbom' ? { status: 0, stdout: SBOM, stderr: '' } : { status: 1, stdout: auditOutput, stderr: '' }
    }
    const lines: string[] = []
    t.equal(dependencyAudit({ runner, outDir, print: (line) => lines.push(line) }), code, `${name}: exit ${code}`)
    t.match(lines.join('\n'), message, `${name}: says so`)
    t.match(lines[0], /SBOM: 2 production packages/, `${name}: SBOM counted`)
    t.equal(readFileSync(path.join(outDir, 'sbom.cdx.json'), 'utf8'), SBOM, `${name}: SBOM written`)
    t.same(calls, [['npm', 'sbom', '--sbom-format', 'cyclonedx', '--omit', 'dev'], ['npm', 'audit', '--omit=dev', '--json']], `${name}: production dependencies only`)
  }
})
