/** A broker with the admin API switched on (role `broker-admin`, an audit file) over the file or the Vault store. */
import { readFileSync } from 'node:fs'
import type { Test } from 'tap'
import { CALLER_SECRET, startHarness, type Harness, type HarnessOptions } from './broker-harness.js'
import { openTestStore, type StoreKind } from './test-stores.js'

export const ADMIN_ROLE = 'broker-admin'

export interface AdminHarness extends Harness {
  auditFile: string
  adminToken: (sub?: string) => string
  /** Audit records written so far. */
  auditRecords: () => Array<Record<string, unknown>>
  admin: (method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown, token?: string) => Promise<{ statusCode: number, body: Record<string, unknown> & { code?: string } }>
}

export async function startAdminHarness (
  t: Test,
  kind: StoreKind,
  options: HarnessOptions & { admin?: Record<string, unknown> } = {}
): Promise<AdminHarness> {
  const auditFile = `${t.testdir({})}/admin-audit.jsonl`
  const { store } = await openTestStore(t, kind)
  const h = await startHarness(t, {
    ...options,
    store,
    config: {
      callers: {
        jwt: { audience: 'atlassian-broker', hs256Secret: CALLER_SECRET },
        admin: { role: ADMIN_ROLE, auditFile, ...options.admin }
      },
      ...options.config
    }
  })
  const adminToken = (sub = 'ops-alice'): string => h.callerToken(sub, { roles: [ADMIN_ROLE] })
  return {
    ...h,
    auditFile,
    adminToken,
    auditRecords: () => {
      let text = ''
      try {
        text = readFileSync(auditFile, 'utf8')
      } catch {
        return []
      }
      return text
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>)
    },
    admin: async (method, url, body, token = adminToken()) => {
      const response = await h.broker.app.inject({
        method,
        url,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' })
        },
        ...(body === undefined ? {} : { payload: JSON.stringify(body) })
      })
      return { statusCode: response.statusCode, body: response.json() }
    }
  }
}

/** Waits until the audit file holds `count` records (the write stream is asynchronous). */
export async function auditSettled (h: AdminHarness, count: number): Promise<Array<Record<string, unknown>>> {
  for (let i = 0; i < 100 && h.auditRecords().length < count; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return h.auditRecords()
}
