import type { UpstreamRateLimit } from '../atlassian/rate-limit-headers.js'

/**
 * One record per proxied call: the seam where logging, metrics, the usage view and the call audit all read from.
 * Caller and integration are names from config (never raw request text), so every consumer's cardinality is bounded.
 */
export interface ProxiedCall {
  requestId: string
  /** The verified caller id, or undefined when authentication failed. */
  caller: string | undefined
  /** A configured integration name, or undefined when the request named none that exists. */
  integration: string | undefined
  method: string
  /** The checked and forwarded path (no query string). */
  path: string
  statusCode: number
  /** Stable error code when the broker answered with an error. */
  errorCode: string | undefined
  durationMs: number
  upstreamStatus: number | undefined
  upstreamMs: number | undefined
  /** Atlassian's request id (`x-arequestid`, or `atl-traceid`), to trace a change in Jira back to the caller. */
  upstreamRequestId: string | undefined
  /** The final upstream answer's rate-limit headers, as the forwarder parsed them (once); undefined without one. */
  upstreamRateLimit: UpstreamRateLimit | undefined
  bytesIn: number
  bytesOut: number
  /** Atlassian points the call cost, as estimated (src/atlassian/point-cost.ts); 0 when Atlassian never answered. */
  points: number
  /** Epoch ms when the call finished. */
  at: number
  /** The MCP tool that made this REST call (src/mcp/); undefined for a call through `/proxy`. */
  tool: string | undefined
}

/**
 * The same call while it runs (`request.proxy`, filled in by the proxy plugin): the ProxiedCall fields the proxy learns
 * on its way, plus when the upstream call started and a byte counter read once the answer has ended.
 */
export type ProxyContext = Pick<ProxiedCall, 'integration' | 'path' | 'upstreamStatus' | 'upstreamMs' | 'upstreamRequestId' | 'upstreamRateLimit' | 'errorCode' | 'bytesOut' | 'tool'> & {
  upstreamStartedAt: number | undefined
  bytesIn: () => number
  /** The points so far: final once the answer's body has ended. */
  points: () => number
}

const noPoints = (): number => 0

/** A context before anything is known: the proxy route and each MCP tool's REST call start from this. */
export function newProxyContext (tool?: string): ProxyContext {
  return {
    integration: undefined,
    path: '',
    upstreamStatus: undefined,
    upstreamStartedAt: undefined,
    upstreamMs: undefined,
    upstreamRequestId: undefined,
    upstreamRateLimit: undefined,
    errorCode: undefined,
    bytesIn: () => 0,
    bytesOut: 0,
    points: noPoints,
    tool
  }
}

/** What the one who answered the caller knows at the end: who, how, with what status, and when. */
export interface CallEnd {
  requestId: string
  caller: string | undefined
  method: string
  statusCode: number
  durationMs: number
  at: number
}

/** The one builder of a ProxiedCall from a finished call's context (http/call-record.ts and src/mcp/ both use it). */
export function proxiedCall (context: ProxyContext, end: CallEnd): ProxiedCall {
  return {
    requestId: end.requestId,
    caller: end.caller,
    integration: context.integration,
    method: end.method,
    path: context.path,
    statusCode: end.statusCode,
    errorCode: context.errorCode,
    durationMs: end.durationMs,
    upstreamStatus: context.upstreamStatus,
    upstreamMs: context.upstreamMs,
    upstreamRequestId: context.upstreamRequestId,
    upstreamRateLimit: context.upstreamRateLimit,
    bytesIn: context.bytesIn(),
    bytesOut: context.bytesOut,
    points: context.points(),
    at: end.at,
    tool: context.tool
  }
}

export interface UsageSink {
  record (call: ProxiedCall): void
}

/** Why Atlassian refused the call with a 429 (`RateLimit-Reason`, else the beta policy), read from the one parse. */
export function rateLimitReasonOf (call: Pick<ProxiedCall, 'upstreamStatus' | 'upstreamRateLimit'>): string | undefined {
  return call.upstreamStatus === 429 ? call.upstreamRateLimit?.reason : undefined
}
