/** One proxied call through a harness broker, reduced to what a fault or attack test asserts on. */
import { request } from 'undici'
import type { Harness } from './broker-harness.js'

export interface CallResult {
  status: number
  /** The problem body's `code`, when the broker answered with an error itself. */
  code: string | undefined
  retryAfter: string | undefined
  body: string
  headers: Record<string, string | string[] | undefined>
}

export interface CallOptions {
  caller?: string
  integration?: string
  method?: string
  headers?: Record<string, string>
  body?: string | Buffer
}

export async function call (h: Harness, path = '/rest/api/3/myself', options: CallOptions = {}): Promise<CallResult> {
  const response = await request(`${h.url}/proxy/${options.integration ?? 'jira-main'}${path}`, {
    method: (options.method ?? 'GET') as 'GET',
    headers: { authorization: `Bearer ${h.callerToken(options.caller ?? 'report-job')}`, ...options.headers },
    ...(options.body !== undefined ? { body: options.body } : {})
  })
  const body = await response.body.text()
  return { status: response.statusCode, code: problemCode(body), retryAfter: header(response.headers['retry-after']), body, headers: response.headers }
}

export function problemCode (body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { code?: unknown }
    return typeof parsed.code === 'string' && parsed.code.startsWith('BROKER_ERR_') ? parsed.code : undefined
  } catch {
    return undefined
  }
}

function header (value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

export const gatewayRequests = (h: Harness): number => h.fake.requests.filter((r) => r.endpoint === 'gateway').length

/** Polls `condition` on real time (for sockets closing and similar effects no clock controls). */
export async function eventually (condition: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (!await condition()) {
    if (Date.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return true
}
