/**
 * The one JSON-lines audit appender (src/audit-file.ts). Regression: when it replaced the credential audit's own
 * writer it opened the file in its constructor and threw, so an audit file the CLI's user cannot write stopped every
 * `secrets put|rotate` (and a broker's start) instead of being logged, as the old writer did.
 */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { AuditLog } from '../src/credentials/audit.js'
import { systemClock } from '../src/clock.js'
import { createLogger } from '../src/logger.js'

t.test('regression: an audit file that cannot be opened is logged, and the write it records goes on', async (t) => {
  const dir = t.testdir({})
  const notADirectory = path.join(dir, 'plain-file')
  writeFileSync(notADirectory, '')
  const lines: string[] = []
  const logger = createLogger({ level: 'info', destination: { write: (line: string) => { lines.push(line) } } })
  const audit = new AuditLog({ logger, clock: systemClock, file: path.join(notADirectory, 'audit.jsonl') })
  audit.record({ actor: 'ops', action: 'put', integration: 'jira-main', via: 'cli', outcome: 'ok', newVersion: 1 })
  await audit.close()
  t.ok(lines.some((line) => line.includes('credential audit file cannot be opened')), 'the unopenable file is logged')
  t.ok(lines.some((line) => line.includes('admin put of jira-main by ops: ok')), 'the record still reaches the log')
})
