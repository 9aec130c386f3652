/**
 * Turns any error into the broker's one problem shape `{statusCode, code, error, message, requestId}`, plus
 * `errorMessages: [message]` and `errors: {}`: Atlassian's ErrorCollection, so clients written for Atlassian's own
 * error bodies (atlassian-python-api, jira.js) show the broker's message.
 * Fastify's own errors are mapped to BROKER_ERR_* codes so callers only ever see documented codes.
 */
import { randomUUID } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import { BadRequestError, BodyTooLargeError, HeadersTooLargeError, InternalError, isBrokerError, type ProblemBody, RouteNotFoundError } from '../errors.js'

export interface Problem { body: ProblemBody, retryAfterSeconds: number | undefined, unexpected: boolean }

export function toProblem (error: FastifyError & { retryAfterSeconds?: number }, requestId: string): Problem {
  let known: { statusCode: number, code: string, message: string } | undefined
  if (isBrokerError(error) && typeof error.statusCode === 'number') {
    known = { statusCode: error.statusCode, code: error.code, message: error.message }
  } else if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    const mapped = new BodyTooLargeError('the')
    known = { statusCode: 413, code: mapped.code, message: 'Request body exceeds the configured limit' }
  } else if (error.code === 'FST_ERR_NOT_FOUND') {
    const mapped = new RouteNotFoundError('', '')
    known = { statusCode: 404, code: mapped.code, message: 'No such route' }
  } else if (error.statusCode === 431) {
    const mapped = new HeadersTooLargeError()
    known = { statusCode: 431, code: mapped.code, message: mapped.message }
  } else if (error.validation !== undefined || (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500)) {
    const mapped = new BadRequestError(clientErrorText(error))
    known = { statusCode: error.statusCode ?? 400, code: mapped.code, message: mapped.message }
  }
  const unexpected = known === undefined
  const { statusCode, code, message } = known ?? {
    statusCode: 500,
    code: new InternalError().code,
    message: new InternalError().message
  }
  return {
    body: { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message, requestId, errorMessages: [message], errors: {} },
    retryAfterSeconds: error.retryAfterSeconds,
    unexpected
  }
}

/**
 * What a 4xx from outside the broker may tell the caller. Fastify's own messages and schema validation are fixed
 * templates; anything else is not repeated: a JSON SyntaxError quotes the body it choked on, which for a rotation is
 * the new client secret.
 */
function clientErrorText (error: FastifyError): string {
  if (error instanceof SyntaxError) return 'the request body is not valid JSON'
  if (error.validation !== undefined || (typeof error.code === 'string' && error.code.startsWith('FST_'))) return error.message
  return 'malformed request'
}

/**
 * The broker's error and not-found handlers, shared by the main app and the admin listener: every answer is a
 * Problem, 5xx are logged without their cause's secrets, `Retry-After` and `WWW-Authenticate` are set when they apply.
 */
export function answerWithProblems (
  app: FastifyInstance,
  options: { onProblem?: (request: FastifyRequest, code: string) => void } = {}
): void {
  app.setErrorHandler((error: FastifyError & { retryAfterSeconds?: number }, request, reply) => {
    if (request.raw.socket === null || request.raw.socket.destroyed) {
      // The caller went away (mid-upload, or while Atlassian was answering): nobody is left to answer, and it is no
      // fault of ours.
      request.log.info(
        { code: typeof error.code === 'string' ? error.code : error.name },
        'caller closed the connection before the answer'
      )
      return
    }
    const problem = toProblem(error, request.id)
    options.onProblem?.(request, problem.body.code)
    if (problem.unexpected) request.log.error({ err: error }, 'unexpected error')
    else if (problem.body.statusCode >= 500) {
      request.log.warn(
        { code: problem.body.code, cause: (error.cause as Error | undefined)?.message },
        problem.body.message
      )
    }
    if (problem.retryAfterSeconds !== undefined) reply.header('retry-after', String(problem.retryAfterSeconds))
    // Answered before the caller's body was read to its end (413 mid-stream, a refusal of an upload): the rest of that
    // body would hold the connection open (and a graceful close with it), so the connection ends with this answer.
    if (!request.raw.complete) reply.header('connection', 'close')
    if (problem.body.statusCode === 401) reply.header('www-authenticate', 'Bearer realm="atlassian-broker"')
    void reply.code(problem.body.statusCode).type('application/json; charset=utf-8').send(problem.body)
  })
  app.setNotFoundHandler((request) => {
    throw new RouteNotFoundError(request.method, (request.raw.url ?? '').split('?')[0]?.slice(0, 128) ?? '')
  })
}

/**
 * Answers a target the router could not decode ("%C0%AE"; Fastify's `frameworkErrors`), which Fastify would otherwise
 * answer with its own FST_ERR_BAD_URL body. Written on the raw response: the reply's hooks have not been set up.
 */
export function answerFrameworkError (
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
  logRefusal: () => boolean
): void {
  const { body } = toProblem(error, request.id)
  if (logRefusal()) { request.log.info({ code: error.code, status: body.statusCode }, 'request target refused by the router') }
  const text = JSON.stringify(body)
  reply.raw.writeHead(body.statusCode, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'x-request-id': request.id,
    // As every admin answer (admin-browser-guard.ts): this one skips the reply's hooks.
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff'
  })
  reply.raw.end(text)
}

/**
 * Answers a request Node's HTTP parser refused before Fastify saw it (`clientErrorHandler`): both Content-Length and
 * Transfer-Encoding, duplicated Content-Length, obs-fold, bare CR or LF, a Transfer-Encoding not ending in chunked
 * (RFC 9112 sections 6.1 and 6.3 require a 400 and closing the connection), or headers past `limits.headerBytes` (431).
 * Only the parser's error code is logged: the error's `rawPacket` holds the caller's bytes, Authorization included.
 */
export function answerClientError (
  error: NodeJS.ErrnoException,
  socket: Duplex,
  logger: Logger,
  logRefusal: () => boolean
): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const requestId = randomUUID()
  const refused =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? new HeadersTooLargeError()
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? Object.assign(new BadRequestError('the request was not received in time'), { statusCode: 408 })
        : new BadRequestError(
            `malformed HTTP request (${String(error.code ?? 'parse error')
              .replace(/[^A-Z0-9_]/gi, '')
              .slice(0, 48)})`
        )
  const { body } = toProblem(refused, requestId)
  if (logRefusal()) {
    logger.info(
      { code: error.code, status: body.statusCode, requestId },
      'malformed request refused by the HTTP parser'
    )
  }
  if (socket.writable) {
    const text = JSON.stringify(body)
    socket.write(
      `HTTP/1.1 ${body.statusCode} ${body.error}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(text)}\r\nX-Request-Id: ${requestId}\r\nConnection: close\r\n\r\n${text}`
    )
  }
  socket.destroy()
}
