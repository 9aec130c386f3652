/** isBrokerError() and errorCode(): the one guard for the broker's own errors, and the one reader of any error's code.
 * */
import t from 'tap'
import { errorCode, isBrokerError, NotReadyError, PolicyDeniedError } from '../src/errors.js'

t.test('isBrokerError: the broker\'s error classes and errors carrying a BROKER_ERR_ code, nothing else', async (t) => {
  t.ok(isBrokerError(new PolicyDeniedError('x')))
  t.ok(isBrokerError(new NotReadyError()))
  t.ok(isBrokerError(Object.assign(new Error('from a worker'), { code: 'BROKER_ERR_INTERNAL' })))
  t.notOk(isBrokerError(Object.assign(new Error('reset'), { code: 'ECONNRESET' })))
  t.notOk(isBrokerError({ code: 'BROKER_ERR_INTERNAL', message: 'not an Error' }), 'a plain object is not thrown by the broker')
  t.notOk(isBrokerError(new Error('no code')))
  t.notOk(isBrokerError(undefined))
  const error: unknown = new PolicyDeniedError('x')
  if (isBrokerError(error)) t.equal(error.statusCode, 403, 'the guard narrows to code and statusCode')
})

t.test('errorCode: any string code, else undefined', async (t) => {
  t.equal(errorCode(Object.assign(new Error('reset'), { code: 'ECONNRESET' })), 'ECONNRESET')
  t.equal(errorCode(new NotReadyError()), 'BROKER_ERR_NOT_READY')
  t.equal(errorCode({ code: 42 }), undefined)
  t.equal(errorCode('text'), undefined)
  t.equal(errorCode(null), undefined)
})
