/**
 * accessLine (src/logger.ts): the access log's hot-path line is the line `logger.info(fields, msg)` writes through
 * createLogger's format, field for field and in the same order, with only the timestamp differing; it keeps the
 * logger's level, refuses a secret's name, and falls back to pino for a logger of another format.
 */
import { pino } from 'pino'
import t from 'tap'
import { accessLine, createLogger } from '../src/logger.js'
import { memoryLogStream } from './helpers/broker-harness.js'

const NAMES = ['reqId', 'caller', 'integration', 'method', 'path', 'status', 'upstreamStatus', 'upstreamRequestId', 'durationMs'] as const
const VALUES = ['req-7', 'report-job', 'jira-main', 'GET', '/rest/api/3/search?jql="a\\b"\n\u2028é', 200, 429, undefined, 12.34]

function withoutTime (line: string): unknown {
  const parsed = JSON.parse(line) as Record<string, unknown>
  t.match(parsed.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'an ISO timestamp')
  delete parsed.time
  return Object.entries(parsed)
}

t.test('the same line as pino writes, fields in order, undefined left out', async (t) => {
  const lines: string[] = []
  const logger = createLogger({ level: 'info', destination: memoryLogStream(lines) })
  const fields: Record<string, unknown> = {}
  NAMES.forEach((name, index) => { fields[name] = VALUES[index] })
  logger.info(fields, 'proxied')
  accessLine(logger, NAMES, 'proxied')(VALUES)
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(lines.length, 2)
  t.same(withoutTime(lines[1] as string), withoutTime(lines[0] as string), 'same keys, order and values')
  t.equal((lines[1] as string).replace(/"time":"[^"]+"/, ''), (lines[0] as string).replace(/"time":"[^"]+"/, ''), 'same bytes')
  t.notMatch(lines[1], /upstreamRequestId/, 'an undefined field is left out, as pino does')
})

t.test('a non-finite number is null, as pino writes it', async (t) => {
  const lines: string[] = []
  const logger = createLogger({ level: 'info', destination: memoryLogStream(lines) })
  accessLine(logger, ['durationMs'], 'proxied')([Number.NaN])
  logger.info({ durationMs: Number.NaN }, 'proxied')
  await new Promise((resolve) => setImmediate(resolve))
  t.same(withoutTime(lines[0] as string), withoutTime(lines[1] as string))
})

t.test('keeps the logger\'s level', async (t) => {
  const lines: string[] = []
  const logger = createLogger({ level: 'warn', destination: memoryLogStream(lines) })
  accessLine(logger, NAMES, 'proxied')(VALUES)
  await new Promise((resolve) => setImmediate(resolve))
  t.same(lines, [])
})

t.test('a secret\'s name is refused: it would skip redaction', async (t) => {
  const logger = createLogger({ level: 'info', destination: memoryLogStream([]) })
  t.throws(() => accessLine(logger, ['reqId', 'authorization'], 'proxied'), /"authorization" is a secret's name/)
})

t.test('a logger of another format goes through pino itself', async (t) => {
  const lines: string[] = []
  const logger = pino({ level: 'info' }, memoryLogStream(lines))
  accessLine(logger, ['reqId', 'status'], 'proxied')(['req-1', 200])
  await new Promise((resolve) => setImmediate(resolve))
  t.match(JSON.parse(lines[0] as string), { level: 30, reqId: 'req-1', status: 200, msg: 'proxied' })
})
