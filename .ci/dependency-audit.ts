/**
 * The dependency audit step of CI (`node --import tsx .ci/dependency-audit.ts`), for the production dependencies:
 * 1. an inventory: `npm sbom` (CycloneDX, offline) written to test-artifacts/sbom.cdx.json;
 * 2. a check against an advisory database: `npm audit --omit=dev`, which needs the registry's advisory endpoint.
 * High or critical advisories fail CI. When no advisory database can be reached (a registry that answers the bulk
 * advisory request with 405, no network to osv.dev or the GitHub advisory database), the step says loudly that it
 * could NOT check and passes: an unreachable database must not block every change, and must not pass for a clean bill
 * of health either (docs/security.md, "Dependency audit").
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

export type Severity = 'info' | 'low' | 'moderate' | 'high' | 'critical'

export type AuditVerdict =
  | { kind: 'unreachable', reason: string }
  | { kind: 'clean', counts: Partial<Record<Severity, number>> }
  | { kind: 'vulnerable', counts: Partial<Record<Severity, number>>, packages: string[] }

const FAILING: readonly Severity[] = ['high', 'critical']

/** Reads `npm audit --json` output: a report, or the error npm prints when the advisory endpoint fails. */
export function auditVerdict (output: string): AuditVerdict {
  let report: Record<string, unknown>
  try {
    report = JSON.parse(output) as Record<string, unknown>
  } catch {
    return { kind: 'unreachable', reason: `npm audit printed no JSON report (${output.trim().split('\n')[0]?.slice(0, 120) ?? 'nothing'})` }
  }
  const metadata = report.metadata as { vulnerabilities?: Partial<Record<Severity | 'total', number>> } | undefined
  if (metadata?.vulnerabilities === undefined) {
    const error = (report.error ?? {}) as { code?: unknown, summary?: unknown }
    const reason = typeof report.message === 'string' ? report.message : typeof error.code === 'string' ? `${error.code} ${String(error.summary ?? '')}` : 'no advisory data in the answer'
    return { kind: 'unreachable', reason: reason.trim().slice(0, 200) }
  }
  const { total: _total, ...counts } = metadata.vulnerabilities
  const vulnerabilities = (report.vulnerabilities ?? {}) as Record<string, { severity?: Severity }>
  const packages = Object.entries(vulnerabilities)
    .filter(([, entry]) => entry.severity !== undefined && FAILING.includes(entry.severity))
    .map(([name]) => name)
    .sort()
  const failing = FAILING.reduce((sum, severity) => sum + (counts[severity] ?? 0), 0)
  return failing > 0 ? { kind: 'vulnerable', counts, packages } : { kind: 'clean', counts }
}

export interface Runner { (command: string, args: string[]): { status: number | null, stdout: string, stderr: string } }

const run: Runner = (command, args) => {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 180_000, maxBuffer: 64 * 1024 * 1024 })
  return { status: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? (result.error?.message ?? '') }
}

/** Runs both steps; returns the exit code for CI and prints what it found. */
export function dependencyAudit (options: { runner?: Runner, outDir: string, print?: (line: string) => void }): number {
  const runner = options.runner ?? run
  const print = options.print ?? ((line: string) => { process.stdout.write(`${line}\n`) })
  const sbom = runner('npm', ['sbom', '--sbom-format', 'cyclonedx', '--omit', 'dev'])
  let listed = 0
  if (sbom.status === 0) {
    mkdirSync(options.outDir, { recursive: true })
    const file = path.join(options.outDir, 'sbom.cdx.json')
    writeFileSync(file, sbom.stdout)
    listed = ((JSON.parse(sbom.stdout) as { components?: unknown[] }).components ?? []).length
    print(`SBOM: ${listed} production packages listed in ${file} (CycloneDX)`)
  } else {
    print(`SBOM: npm sbom failed (exit ${String(sbom.status)}): ${sbom.stderr.trim().split('\n')[0] ?? ''}`)
  }
  const audit = runner('npm', ['audit', '--omit=dev', '--json'])
  const verdict = auditVerdict(audit.stdout)
  if (verdict.kind === 'unreachable') {
    const banner = '!'.repeat(100)
    print(banner)
    print('DEPENDENCY AUDIT: COULD NOT CHECK. No advisory database was reachable, so NOTHING is known about known')
    print(`vulnerabilities in the ${listed || 'production'} packages of the SBOM. Reason: ${verdict.reason}`)
    print('Check test-artifacts/sbom.cdx.json with a scanner that has an advisory database (docs/security.md).')
    print(banner)
    return 0
  }
  const summary = Object.entries(verdict.counts).map(([severity, count]) => `${severity} ${count}`).join(', ')
  if (verdict.kind === 'vulnerable') {
    print(`DEPENDENCY AUDIT: FAILED: high or critical advisories for ${verdict.packages.join(', ')} (${summary}); see npm audit --omit=dev`)
    return 1
  }
  print(`DEPENDENCY AUDIT: checked, no high or critical advisory (${summary})`)
  return 0
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = dependencyAudit({ outDir: path.resolve('test-artifacts') })
}
