/**
 * A tool's REST calls to Atlassian, each through the proxy's own pipeline (callAsCaller: policy, admission, the
 * forwarder) and each recorded once, with the tool's name, in usage (metrics, tally, call audit). What comes back is
 * JSON; a refusal by the broker or an Atlassian error becomes a ToolRefusal whose message a model can act on: the
 * missing policy rule, Atlassian's own message, the wait after a 429. Nothing of the access token, the credential or
 * the caller's JWT is ever in it: the forwarder alone holds the grant, and the caller's token never reaches here.
 */
import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import { readBounded, type ReadableBody } from '../atlassian/bounded-body.js'
import { integrationNamed } from '../config/integration-lookup.js'
import type { IntegrationConfig } from '../config/schema.js'
import { errorCode, isBrokerError } from '../errors.js'
import { callAsCaller, composedBody, type CallerCallPipeline } from '../upstream/caller-call.js'
import type { CallerGone } from '../upstream/caller-gone.js'
import { newProxyContext, proxiedCall, type UsageSink } from '../usage/proxied-call.js'

/** Bigger answers are cut off and refused: a model's context could not hold them anyway. */
const MAX_ANSWER_BYTES = 8 * 1024 * 1024

export interface ToolRestDeps {
  pipeline: CallerCallPipeline
  integrations: Readonly<Record<string, IntegrationConfig>>
  usage: UsageSink | undefined
  clock: Clock
  logger: Logger
}

/** Who calls, for which tool, within which MCP request. */
export interface ToolCallScope {
  caller: string
  tool: string
  signal: CallerGone
}

export type Query = Record<string, string | number | boolean | readonly string[] | undefined>

/** A call the broker or Atlassian refused: the tool's error result. */
export class ToolRefusal extends Error {
  constructor (
    message: string,
    readonly status: number,
    readonly code: string | undefined,
    readonly retryAfterSeconds?: number
  ) {
    super(message)
    this.name = 'ToolRefusal'
  }
}

export class ToolRest {
  readonly #deps: ToolRestDeps
  readonly #scope: ToolCallScope
  readonly #integration: string

  constructor (deps: ToolRestDeps, scope: ToolCallScope, integration: string) {
    this.#deps = deps
    this.#scope = scope
    this.#integration = integration
  }

  get integration (): string { return this.#integration }

  get (path: string, query?: Query): Promise<unknown> { return this.call('GET', path, query) }
  post (path: string, body: unknown, query?: Query): Promise<unknown> { return this.call('POST', path, query, body) }
  put (path: string, body: unknown, query?: Query): Promise<unknown> { return this.call('PUT', path, query, body) }

  /** `path` is built by the tools from encoded parts (`encodeURIComponent` of every value). */
  async call (method: string, path: string, query: Query = {}, body?: unknown): Promise<unknown> {
    const { pipeline, usage, clock } = this.#deps
    const config = integrationNamed(this.#deps.integrations, this.#integration)
    if (config === undefined) throw new ToolRefusal(`Unknown integration "${this.#integration}"`, 404, 'BROKER_ERR_INTEGRATION_NOT_FOUND')
    const context = newProxyContext(this.#scope.tool)
    context.integration = this.#integration
    context.path = path
    const started = performance.now()
    let status = 500
    try {
      const response = await callAsCaller(pipeline, {
        caller: this.#scope.caller,
        integration: this.#integration,
        config,
        method,
        path,
        query: queryString(query),
        incoming: composedBody(body),
        signal: this.#scope.signal,
        context
      })
      const text = await readAnswer(response.body)
      context.bytesOut = Buffer.byteLength(text)
      status = response.statusCode
      if (status >= 400) {
        // The wait as the forwarder parsed it once (src/atlassian/rate-limit-headers.ts): seconds or an HTTP date.
        const waitMs = response.rateLimit.enforced.retryAfterMs
        const retryAfter = waitMs === undefined ? undefined : Math.ceil(waitMs / 1000)
        throw new ToolRefusal(atlassianMessage(status, text, retryAfter), status, undefined, retryAfter)
      }
      return text === '' ? undefined : JSON.parse(text) as unknown
    } catch (error) {
      if (error instanceof ToolRefusal) throw error
      logFailure(this.#deps.logger, error, this.#scope)
      const refusal = brokerRefusal(error)
      status = refusal.status
      context.errorCode = refusal.code
      throw refusal
    } finally {
      usage?.record(proxiedCall(context, {
        requestId: randomUUID(),
        caller: this.#scope.caller,
        method,
        statusCode: status,
        durationMs: performance.now() - started,
        at: clock.now()
      }))
    }
  }
}

function queryString (query: Query): string {
  const params = new URLSearchParams()
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined) continue
    if (Array.isArray(value)) for (const item of value as readonly string[]) params.append(name, item)
    else params.append(name, String(value))
  }
  return params.toString()
}

async function readAnswer (body: ReadableBody): Promise<string> {
  const { text, truncated } = await readBounded(body, MAX_ANSWER_BYTES)
  if (truncated) throw new ToolRefusal(`Atlassian's answer is larger than ${MAX_ANSWER_BYTES} bytes; ask for fewer results or fields`, 502, undefined)
  return text
}

/** Atlassian's own words: Jira's ErrorCollection (`errorMessages`, `errors`), Confluence v2 `errors[]`, v1 `message`.
 * */
function atlassianMessage (status: number, text: string, retryAfter: number | undefined): string {
  const parts: string[] = []
  try {
    const parsed = JSON.parse(text) as Record<string, unknown>
    if (Array.isArray(parsed.errorMessages)) parts.push(...parsed.errorMessages.map(String))
    if (typeof parsed.errors === 'object' && parsed.errors !== null && !Array.isArray(parsed.errors)) {
      for (const [field, message] of Object.entries(parsed.errors)) parts.push(`${field}: ${String(message)}`)
    }
    if (Array.isArray(parsed.errors)) {
      for (const item of parsed.errors as Array<Record<string, unknown>>) parts.push(String(item.detail ?? item.title ?? item.code ?? ''))
    }
    if (typeof parsed.message === 'string') parts.push(parsed.message)
  } catch {}
  const said = parts.filter((part) => part !== '').join('; ')
  const wait = status === 429 && retryAfter !== undefined ? ` Retry after ${retryAfter} seconds.` : ''
  const end = said === '' || said.endsWith('.') ? '' : '.'
  return `Atlassian answered ${status}${said === '' ? '.' : `: ${said.slice(0, 2_000)}${end}`}${wait}`
}

/** As /proxy logs its problems (src/http/problem.ts): an unexpected error with its stack, a 5xx with its cause, so
 *  the log has the detail the tool's generic message leaves out. Refusals below 500 are the caller's to fix. */
function logFailure (logger: Logger, error: unknown, scope: ToolCallScope): void {
  const where = { tool: scope.tool, caller: scope.caller }
  if (!isBrokerError(error)) {
    logger.error({ err: error, ...where }, 'MCP tool call failed unexpectedly')
  } else if ((error.statusCode ?? 500) >= 500) {
    logger.warn({ code: error.code, cause: (error.cause as Error | undefined)?.message, ...where }, error.message)
  }
}

/** The broker's own refusal (policy, limits, quota hold, upstream failure), in its stable code and safe message. */
function brokerRefusal (error: unknown): ToolRefusal {
  if (isBrokerError(error)) {
    const status = error.statusCode ?? 500
    const retryAfter = (error as { retryAfterSeconds?: number }).retryAfterSeconds
    const wait = retryAfter === undefined ? '' : ` Retry after ${retryAfter} seconds.`
    // At 500 and above the message is generic by construction (src/errors.ts); below, it says how to fix the call.
    const hint = error.code === 'BROKER_ERR_POLICY_DENIED' ? ' Ask the broker\'s operator for a policy rule that allows it.' : ''
    return new ToolRefusal(`${error.code}: ${error.message}.${hint}${wait}`, status, error.code, retryAfter)
  }
  return new ToolRefusal(`BROKER_ERR_INTERNAL: Internal error (${errorCode(error) ?? 'unexpected'})`, 500, 'BROKER_ERR_INTERNAL')
}
