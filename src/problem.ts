/**
 * Turns any error into the broker's one problem shape `{statusCode, code, error, message, requestId}`.
 * Fastify's own errors are mapped to BROKER_ERR_* codes so callers only ever see documented codes.
 */
import { STATUS_CODES } from 'node:http'
import type { FastifyError } from 'fastify'
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
    const mapped = new BadRequestError(error.message)
    known = { statusCode: error.statusCode ?? 400, code: mapped.code, message: mapped.message }
  }
  const unexpected = known === undefined
  const { statusCode, code, message } = known ?? { statusCode: 500, code: new InternalError().code, message: new InternalError().message }
  return {
    body: { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message, requestId },
    retryAfterSeconds: error.retryAfterSeconds,
    unexpected
  }
}
