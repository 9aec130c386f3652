/** The call audit: a change made through the broker can be traced from Atlassian's request id back to the caller. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { JIRA_CLOUD_ID, startHarness } from '../helpers/broker-harness.js'
import type { CallAuditRecord } from '../../src/usage/call-audit.js'

/** Not t.testdir: the harness resets that folder for its own data on every start. */
function tempDir (t: Test): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'call-audit-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('a POST creating an issue is traced: upstream request id -> caller, path, status', async (t) => {
  const auditFile = path.join(tempDir(t), 'audit', 'calls.jsonl')
  const h = await startHarness(t, { config: { usage: { auditFile } } })
  const jwt = h.callerToken('report-job')
  const res = await request(`${h.url}/proxy/jira-main/rest/api/3/issue?notifyUsers=false`, {
    method: 'POST',
    headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' },
    body: JSON.stringify({ fields: { project: { key: 'OPS' }, summary: 'traced issue', issuetype: { name: 'Task' } } })
  })
  t.equal(res.statusCode, 201)
  const created = await res.body.json() as { key: string }
  const traceId = res.headers['atl-traceid']
  t.type(traceId, 'string', 'the fake answered with its request id')
  await (await request(`${h.url}/proxy/jira-main/rest/api/3/myself`, { headers: { authorization: 'Bearer nope' } })).body.dump()
  await h.broker.close()

  const text = readFileSync(auditFile, 'utf8')
  const records = text.trim().split('\n').map((line) => JSON.parse(line) as CallAuditRecord)
  t.equal(records.length, 2, 'one record per proxied call')
  const traced = records.find((record) => record.upstreamRequestId === traceId)
  t.match(traced, {
    caller: 'report-job', integration: 'jira-main', method: 'POST', path: '/rest/api/3/issue', status: 201, upstreamStatus: 201, errorCode: null
  })
  t.ok((traced?.bytesIn ?? 0) > 0)
  t.ok(h.fake.requests.some((r) => r.endpoint === 'gateway' && r.path === `/ex/jira/${JIRA_CLOUD_ID}/rest/api/3/issue` && r.status === 201), 'the issue was created upstream')
  t.match(records[1], { caller: null, status: 401, errorCode: 'BROKER_ERR_CALLER_UNAUTHENTICATED', upstreamRequestId: null })
  t.notOk(text.includes(jwt), 'no caller JWT in the audit')
  t.notOk(text.includes('notifyUsers'), 'query strings are not recorded')
  t.notOk(h.fake.tokensOf('svc-client-id').some((token) => text.includes(token)), 'no access token in the audit')
  t.ok(created.key.length > 0)
})

t.test('appends across restarts', async (t) => {
  const auditFile = path.join(tempDir(t), 'calls.jsonl')
  for (let run = 0; run < 2; run++) {
    const h = await startHarness(t, { config: { usage: { auditFile } } })
    await (await request(`${h.url}/proxy/jira-main/rest/api/3/myself`, { headers: { authorization: `Bearer ${h.callerToken('report-job')}` } })).body.dump()
    await h.broker.close()
  }
  t.equal(readFileSync(auditFile, 'utf8').trim().split('\n').length, 2)
})

t.test('regression: a 401 flood grew the usage file without bound; past usage.maxFileBytes it rotates to <file>.1', async (t) => {
  const auditFile = path.join(tempDir(t), 'usage.jsonl')
  const h = await startHarness(t, { config: { usage: { auditFile, maxFileBytes: 4_096 } } })
  for (let index = 0; index < 60; index++) {
    await (await request(`${h.url}/proxy/jira-main/rest/api/3/myself`, { headers: { authorization: `Bearer flood-${index}` } })).body.dump()
  }
  await h.broker.close()
  const current = readFileSync(auditFile, 'utf8')
  const rotated = readFileSync(`${auditFile}.1`, 'utf8')
  t.ok(Buffer.byteLength(current) <= 4_096, `the current file stays within the cap (${Buffer.byteLength(current)} bytes)`)
  t.ok(Buffer.byteLength(rotated) <= 4_096, `so does the one rotated copy (${Buffer.byteLength(rotated)} bytes)`)
  const records = [...rotated.trim().split('\n'), ...current.trim().split('\n')].map((line) => JSON.parse(line) as CallAuditRecord)
  t.ok(records.every((record) => record.status === 401), 'whole records, every line parses')
  t.ok(records.length < 60, `older records were dropped with the older copy (${records.length} of 60 kept)`)
  t.equal(records.at(-1)?.errorCode, 'BROKER_ERR_CALLER_UNAUTHENTICATED', 'the newest record is kept')
})
