/**
 * One REST call of a caller to an integration: the one pipeline `/proxy` (src/http/proxy-routes.ts) and the MCP tools
 * (src/mcp/) share, so a tool call is held to exactly what a proxied call is: the caller's policy rule (integration ×
 * method × path), then admission (quota hold, budget, seats and queues, calls in flight, rate), then the forwarder
 * (token cache, fresh-token and retry layers). What it learns goes into the call's ProxyContext, which becomes the one
 * usage record (metrics, tally, audit) when the answer has ended.
 */
import { Readable } from 'node:stream'
import { BASE_POINTS, listField, ObjectCounter, pointsOf } from '../atlassian/point-cost.js'
import { PolicyDeniedError } from '../errors.js'
import type { Admit } from '../limits/admission.js'
import type { Policy } from '../policy/policy.js'
import type { ProxyContext } from '../usage/proxied-call.js'
import type { CallerGone } from './caller-gone.js'
import type { Forwarder } from './forwarder.js'
import type { CallerBody, ForwardRequest, ForwardResponse } from './upstream-send.js'

export interface CallerCallPipeline {
  policy: Policy
  forwarder: Forwarder
  admit?: Admit | undefined
}

/** A forward request from a caller: `path` is checked by src/policy/request-path.ts (the proxy) or built from encoded
 *  parts (the MCP tools); `signal` aborts when the caller goes away (a queued call leaves its queue, an upstream
 *  request is given up). */
export interface CallerCall extends ForwardRequest {
  caller: string
  signal: CallerGone
  context: ProxyContext
}

/**
 * Decides, admits and forwards. The seat and slots admission gave are released when the answer's body closes (or
 * at once when forwarding fails); the caller must consume or destroy `response.body`.
 */
export async function callAsCaller (pipeline: CallerCallPipeline, call: CallerCall): Promise<ForwardResponse> {
  const { caller, integration, context } = call
  const decision = pipeline.policy.decide(caller, integration, call.method, call.path)
  if (!decision.allowed) throw new PolicyDeniedError(decision.reason)
  let admitted = pipeline.admit?.(caller, integration, decision.rule, call.signal)
  if (admitted instanceof Promise) admitted = await admitted
  const release = admitted
  try {
    context.upstreamStartedAt = performance.now()
    const response = await pipeline.forwarder.forward(call)
    context.upstreamMs = performance.now() - context.upstreamStartedAt
    context.upstreamStatus = response.statusCode
    context.bytesIn = response.bytesIn
    const requestIdHeader = response.headers['x-arequestid'] ?? response.headers['atl-traceid']
    context.upstreamRequestId = typeof requestIdHeader === 'string' ? requestIdHeader : undefined
    context.upstreamRateLimit = response.rateLimit
    context.points = countPoints(call, response)
    // Admission charges the call's points to its budgets once the answer is over (admission.ts).
    if (release) response.body.once('close', () => { release(context.points()) })
    return response
  } catch (error) {
    release?.()
    throw error
  }
}

const basePoints = (): number => BASE_POINTS

/**
 * The answer's points as its bytes pass (src/atlassian/point-cost.ts): only a JSON list answer gets a scanner, fed by a
 * 'data' listener that leaves the body paused, so whoever reads it (the proxy's pipe, an MCP tool) still starts it.
 */
function countPoints (call: CallerCall, response: ForwardResponse): () => number {
  const field = listField(call.config.product, call.method, call.path, response.statusCode, response.headers['content-type'])
  if (field === undefined) return basePoints
  const counter = new ObjectCounter(field)
  const body = response.body
  const scan = (chunk: Uint8Array): void => {
    counter.write(chunk)
    if (counter.done) body.removeListener('data', scan)
  }
  body.on('data', scan)
  body.pause()
  return () => pointsOf(counter)
}

/** A body the broker composed itself (an MCP tool's JSON), in the shape the forwarder reads of a caller's request. */
export function composedBody (json: unknown): CallerBody {
  if (json === undefined) return Object.assign(Readable.from([]), { headers: { accept: 'application/json' } })
  const bytes = Buffer.from(JSON.stringify(json))
  return Object.assign(Readable.from([bytes]), {
    headers: { 'content-type': 'application/json', accept: 'application/json', 'content-length': String(bytes.length) }
  })
}
