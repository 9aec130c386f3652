/**
 * The soak's mixed traffic: a weighted draw of operations, each of which knows what a correct broker answers, with or
 * without the fault it injects. Every call ends in exactly one verdict: `ok` (the normal answer), `injected` (the
 * answer its injected fault calls for), or `unexpected` (anything else: what the soak exists to find).
 */
import { Readable } from 'node:stream'
import { createSigner } from 'fast-jwt'
import { Agent, request } from 'undici'
import { HANG_MS, type SoakWorld, type Window } from './faults.js'

export type Verdict = 'ok' | 'injected' | 'unexpected'

export interface Outcome { op: string, label: string, verdict: Verdict, atMs: number }

export interface Traffic { run: (op: Operation) => Promise<Outcome>, pick: () => Operation, close: () => Promise<void> }

export interface Operation { name: string, weight: number, call: () => Promise<Omit<Outcome, 'atMs' | 'op'>> }

interface Answer {
  status: number
  code: string | undefined
  bytes: number
  broken: boolean
  retryAfter: string | undefined
}

/** Token faults leave jira-faulty answering 502/503 for up to the broker's backoff after the window: allowed this long.
 * */
const RECOVERY_ALLOWANCE_MS = 60_000

export function createTraffic (
  world: SoakWorld,
  options: { url: string, callerSecret: string, adminRole: string, startedAt: number }
): Traffic {
  const dispatcher = new Agent({ connections: 32, keepAliveTimeout: 10_000 })
  const sign = createSigner({ key: options.callerSecret, algorithm: 'HS256', expiresIn: 3_600_000 })
  const token = sign({ sub: 'soak-job', aud: 'atlassian-broker' })
  const admin = sign({ sub: 'soak-admin', aud: 'atlassian-broker', roles: [options.adminRole] })
  const expired = createSigner({ key: options.callerSecret, algorithm: 'HS256' })({
    sub: 'soak-job',
    aud: 'atlassian-broker',
    exp: 1_000
  })
  let sequence = 0
  const now = (): number => Date.now() - options.startedAt

  async function send (
    path: string,
    init: { method?: string, body?: Buffer | Readable, bearer?: string, abortAfterBytes?: number } = {}
  ): Promise<Answer> {
    const controller = new AbortController()
    const response = await request(`${options.url}${path}`, {
      dispatcher,
      method: (init.method ?? 'GET') as 'GET',
      headers: {
        authorization: `Bearer ${init.bearer ?? token}`,
        ...(init.body ? { 'content-type': 'application/octet-stream' } : {})
      },
      ...(init.body ? { body: init.body } : {}),
      signal: controller.signal
    })
    let bytes = 0
    let broken = false
    const chunks: Buffer[] = []
    try {
      for await (const chunk of response.body) {
        bytes += (chunk as Buffer).length
        if (bytes <= 4_096) chunks.push(chunk as Buffer)
        if (init.abortAfterBytes !== undefined && bytes >= init.abortAfterBytes) controller.abort()
      }
    } catch {
      broken = true
    }
    let code: string | undefined
    try {
      code = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { code?: string }).code
    } catch {
      code = undefined
    }
    const retryAfter = response.headers['retry-after']
    return {
      status: response.statusCode,
      code,
      bytes,
      broken,
      retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined
    }
  }

  const label = (answer: Answer): string =>
    `${answer.status}${answer.code ? ` ${answer.code}` : ''}${answer.broken ? ' (body broken)' : ''}`
  const expect = (answer: Answer, good: (answer: Answer) => boolean): { label: string, verdict: Verdict } => ({
    label: label(answer),
    verdict: good(answer) ? 'ok' : 'unexpected'
  })
  const injected = (answer: Answer, good: (answer: Answer) => boolean): { label: string, verdict: Verdict } => ({
    label: label(answer),
    verdict: good(answer) ? 'injected' : 'unexpected'
  })
  const inWindow = (windows: Window[], atMs: number, allowanceMs: number): boolean =>
    windows.some((window) => atMs >= window.startMs && (window.endMs === 0 || atMs <= window.endMs + allowanceMs))
  /** A body of `size` bytes in 64 KiB chunks, streamed (never buffered whole). */
  const upload = (size: number): Readable =>
    Readable.from(
      (function * () {
        for (let sent = 0; sent < size; sent += 65_536) yield Buffer.alloc(Math.min(65_536, size - sent), sent % 251)
      })()
    )
  /** Queues `fault` for exactly one request path, so the answer can be attributed. */
  const faultPath = (kind: string, fault: Parameters<SoakWorld['fake']['setNextResponses']>[1][number]): string => {
    const path = `/rest/api/3/soak/fault/${kind}/${++sequence}`
    world.fake.setNextResponses((r) => r.apiPath === path, [fault])
    return `/proxy/jira-main${path}`
  }

  const operations: Operation[] = [
    {
      name: 'get',
      weight: 22,
      call: async () => expect(await send('/proxy/jira-main/rest/api/3/myself'), (a) => a.status === 200 && !a.broken)
    },
    {
      name: 'search',
      weight: 10,
      call: async () =>
        expect(
          await send(
            `/proxy/jira-main/rest/api/3/soak/search?jql=project%20%3D%20OPS%20AND%20n%3D${++sequence}&maxResults=50`
          ),
          (a) => a.status === 200
        )
    },
    {
      name: 'post',
      weight: 10,
      call: async () =>
        expect(
          await send('/proxy/jira-main/rest/api/3/soak/create', {
            method: 'POST',
            body: Buffer.from(JSON.stringify({ fields: { summary: 'soak', n: ++sequence, pad: 'x'.repeat(2_000) } }))
          }),
          (a) => a.status === 200
        )
    },
    {
      name: 'upload',
      weight: 5,
      call: async () => {
        const size = 256 * 1024 + Math.floor(Math.random() * 1024 * 1024)
        const answer = await send('/proxy/jira-main/rest/api/3/soak/sink', { method: 'PUT', body: upload(size) })
        return expect(answer, (a) => a.status === 200 && !a.broken)
      }
    },
    {
      name: 'download',
      weight: 5,
      call: async () => {
        const size = 256 * 1024 + Math.floor(Math.random() * 2 * 1024 * 1024)
        return expect(
          await send(`/proxy/jira-main/rest/api/3/soak/stream/${size}`),
          (a) => a.status === 200 && a.bytes === size && !a.broken
        )
      }
    },
    {
      name: 'wiki (tokens revoked every 20 s)',
      weight: 14,
      call: async () => expect(await send('/proxy/wiki-main/wiki/rest/api/user/current'), (a) => a.status === 200)
    },
    {
      name: 'faulty (token endpoint faults)',
      weight: 10,
      call: async () => {
        const atMs = now()
        const answer = await send('/proxy/jira-faulty/rest/api/3/myself')
        if (answer.status === 200) return { label: '200', verdict: 'ok' }
        const allowed =
          (answer.status === 503 && answer.code === 'BROKER_ERR_TOKEN_ENDPOINT_UNAVAILABLE') ||
          (answer.status === 502 && answer.code === 'BROKER_ERR_CREDENTIAL_REJECTED')
        return {
          label: label(answer),
          verdict: allowed && inWindow(world.tokenWindows, atMs, RECOVERY_ALLOWANCE_MS) ? 'injected' : 'unexpected'
        }
      }
    },
    {
      name: 'denied',
      weight: 3,
      call: async () =>
        injected(
          await send('/proxy/jira-main/rest/api/3/issue/OPS-1', { method: 'DELETE' }),
          (a) => a.status === 403 && a.code === 'BROKER_ERR_POLICY_DENIED'
        )
    },
    {
      name: 'bad token',
      weight: 2,
      call: async () =>
        injected(
          await send('/proxy/jira-main/rest/api/3/myself', { bearer: Math.random() < 0.5 ? expired : `${token}x` }),
          (a) => a.status === 401
        )
    },
    {
      name: 'gateway reset',
      weight: 2,
      call: async () =>
        injected(
          await send(faultPath('reset', { status: 0, destroySocket: true })),
          (a) => a.status === 502 && a.code === 'BROKER_ERR_UPSTREAM_UNAVAILABLE'
        )
    },
    {
      name: 'gateway hang',
      weight: 1,
      call: async () =>
        injected(
          await send(faultPath('hang', { status: 200, body: {}, delayMs: HANG_MS })),
          (a) => a.status === 504 && a.code === 'BROKER_ERR_UPSTREAM_TIMEOUT'
        )
    },
    {
      name: 'gateway 503/502',
      weight: 2,
      call: async () => {
        const status = Math.random() < 0.5 ? 503 : 502
        const retryAfter = Math.random() < 0.5 ? '3' : undefined
        const answer = await send(
          faultPath(String(status), {
            status,
            body: { code: status },
            ...(retryAfter ? { headers: { 'retry-after': retryAfter } } : {})
          })
        )
        return injected(answer, (a) => a.status === status && a.retryAfter === retryAfter)
      }
    },
    {
      name: 'gateway reset mid-body',
      weight: 1,
      call: async () =>
        injected(
          await send('/proxy/jira-main/rest/api/3/soak/stream/2000000?abortAfter=300000'),
          (a) => a.status === 200 && a.broken
        )
    },
    {
      name: 'gateway stall mid-body',
      weight: 1,
      call: async () =>
        injected(
          await send('/proxy/jira-main/rest/api/3/soak/stream/2000000?stallAfter=300000'),
          (a) => a.status === 200 && a.broken
        )
    },
    {
      name: 'caller gone mid-download',
      weight: 2,
      call: async () =>
        injected(
          await send('/proxy/jira-main/rest/api/3/soak/stream/8000000', { abortAfterBytes: 200_000 }),
          (a) => a.status === 200 && a.broken
        )
    },
    {
      name: 'caller gone mid-upload',
      weight: 2,
      call: async () => {
        const body = upload(4 * 1024 * 1024)
        let sent = 0
        body.on('data', (chunk: Buffer) => {
          sent += chunk.length
          if (sent > 300_000) body.destroy(new Error('caller gone'))
        })
        try {
          const answer = await send('/proxy/jira-main/rest/api/3/soak/sink', { method: 'PUT', body })
          return { label: `${label(answer)} (upload not cut)`, verdict: 'unexpected' }
        } catch {
          return { label: 'caller aborted', verdict: 'injected' }
        }
      }
    },
    {
      name: 'admin and metrics reads',
      weight: 2,
      call: async () => {
        const path = ['/admin/usage', '/admin/integrations', '/metrics', '/readyz', '/healthz'][
          sequence++ % 5
        ] as string
        const answer = await send(path, { bearer: admin })
        // /readyz may say 503 while Vault is away: that is its job.
        const good =
          answer.status === 200 ||
          (path === '/readyz' && answer.status === 503 && inWindow(world.vaultWindows, now(), 15_000))
        return {
          label: `${path} ${label(answer)}`,
          verdict: good ? (answer.status === 200 ? 'ok' : 'injected') : 'unexpected'
        }
      }
    }
  ]
  const total = operations.reduce((sum, op) => sum + op.weight, 0)
  return {
    pick: () => {
      let draw = Math.random() * total
      for (const op of operations) if ((draw -= op.weight) < 0) return op
      return operations[0] as Operation
    },
    run: async (op) => {
      const atMs = now()
      try {
        return { op: op.name, atMs, ...(await op.call()) }
      } catch (error) {
        return {
          op: op.name,
          atMs,
          label: `client error: ${(error as Error).message.slice(0, 80)}`,
          verdict: 'unexpected'
        }
      }
    },
    close: () => dispatcher.close()
  }
}
