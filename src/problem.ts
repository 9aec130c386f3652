/**
 * Turns any error into the broker's one problem shape `{statusCode, code, error, message, requestId}`, plus
 * `errorMessages: [message]` and `errors: {}`: Atlassian's ErrorCollection, so clients written for Atlassian's own
 * error bodies (atlassian-python-api, jira.js) show the broker's message.
 * Fastify's own errors are mapped to BROKER_ERR_* codes so callers only ever see documented codes.
 */
import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify'
import { BadRequestError, BodyTooLargeError, HeadersTooLargeError, InternalError, RouteNotFoundError, type ProblemBody } from './errors.js'

export interface Problem { body: ProblemBody, retryAfterSeconds: number | undefined, unexpected: boolean }

export function toProblem (error: FastifyError & { retryAfterSeconds?: number }, requestId: string): Problem {
  let known: { statusCode: number, code: string, message: string } | undefined
  if (typeof error.code === 'string' && error.code.startsWith('BROKER_ERR_') && typeof error.statusCode === 'number') {
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
  const { statusCode, code, message } = known ?? { statusCode: 500, code: new InternalError().code, message: new InternalError().message }
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
export function answerWithProblems (app: FastifyInstance, options: { onProblem?: (request: FastifyRequest, code: string) => void } = {}): void {
  app.setErrorHandler((error: FastifyError & { retryAfterSeconds?: number }, request, reply) => {
    if (request.raw.socket === null || request.raw.socket.destroyed) {
      // The caller went away (mid-upload, or while Atlassian was answering): nobody is left to answer, and it is no fault of ours.
      request.log.info({ code: typeof error.code === 'string' ? error.code : error.name }, 'caller closed the connection before the answer')
      return
    }
    const problem = toProblem(error, request.id)
    options.onProblem?.(request, problem.body.code)
    if (problem.unexpected) request.log.error({ err: error }, 'unexpected error')
    else if (problem.body.statusCode >= 500) request.log.warn({ code: problem.body.code, cause: (error.cause as Error | undefined)?.message }, problem.body.message)
    if (problem.retryAfterSeconds !== undefined) reply.header('retry-after', String(problem.retryAfterSeconds))
    // Answered before the caller's body was read to its end (413 mid-stream, a refusal of an upload): the rest of that body
    // would hold the connection open (and a graceful close with it), so the connection ends with this answer.
    if (!request.raw.complete) reply.header('connection', 'close')
    if (problem.body.statusCode === 401) reply.header('www-authenticate', 'Bearer realm="atlassian-broker"')
    void reply.code(problem.body.statusCode).type('application/json; charset=utf-8').send(problem.body)
  })
  app.setNotFoundHandler((request) => {
    throw new RouteNotFoundError(request.method, (request.raw.url ?? '').split('?')[0]?.slice(0, 128) ?? '')
  })
}
