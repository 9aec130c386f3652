/** Strict expiry dates (issue 16, item 5): only real ISO 8601 calendar dates; Date.parse's repairs are refused. */
import t from 'tap'
import { parseIsoDate } from '../../src/credentials/iso-date.js'
import { parseExpiresAt } from '../../src/credentials/rotation.js'
import { daysUntil } from '../../src/credentials/expiry.js'
import { cliEnv, runCli } from '../helpers/cli.js'

t.test('real dates and date-times with an offset are read exactly', async (t) => {
  const cases: Array<[string, string]> = [
    ['2027-03-31', '2027-03-31T00:00:00.000Z'],
    ['2028-02-29', '2028-02-29T00:00:00.000Z'],
    ['2000-02-29', '2000-02-29T00:00:00.000Z'],
    ['2027-03-31T12:30Z', '2027-03-31T12:30:00.000Z'],
    ['2027-03-31T12:30:15Z', '2027-03-31T12:30:15.000Z'],
    ['2027-03-31T12:30:15.25Z', '2027-03-31T12:30:15.250Z'],
    ['2027-03-31T12:30:15.123456789Z', '2027-03-31T12:30:15.123Z'],
    ['2027-03-31t12:30:15z', '2027-03-31T12:30:15.000Z'],
    ['2027-03-31T12:30:15+02:00', '2027-03-31T10:30:15.000Z'],
    ['2027-03-31T00:30:00-05:30', '2027-03-31T06:00:00.000Z'],
    ['2027-12-31T23:59:59Z', '2027-12-31T23:59:59.000Z'],
    ['0050-06-01', '0050-06-01T00:00:00.000Z']
  ]
  for (const [text, iso] of cases) t.equal(new Date(parseIsoDate(text) ?? NaN).toISOString(), iso, text)
})

t.test('regression: Date.parse turned "2027-02-30" into 2 March and garbage into 2001; both are refused now', async (t) => {
  t.not(Number.isNaN(Date.parse('2027-02-30')), true, 'the hazard: Date.parse accepts 30 February')
  t.not(Number.isNaN(Date.parse('garbage 1')), true, 'and text ending in a number')
  const refused = [
    '2027-02-30', '2027-02-29', '1900-02-29', '2027-04-31', '2027-13-01', '2027-00-10', '2027-01-00', '2027-01-32',
    'garbage 1', 'soon', '', ' ', 'tomorrow', '31/03/2027', '03/31/2027', '2027/03/31', 'March 31, 2027', '1798761600000',
    '2027-3-31', '27-03-31', '+002027-03-31', '2027-03-31T24:00Z', '2027-03-31T12:60Z', '2027-03-31T12:30:60Z',
    '2027-03-31T12:30', '2027-03-31T12:30:00', '2027-03-31 12:30:00Z', '2027-03-31T12:30:00+24:00', '2027-03-31T12:30:00+02:60',
    '2027-03-31T12:30:00+0200', '2027-03-31Z', 'Tue, 31 Mar 2027 00:00:00 GMT'
  ]
  for (const text of refused) {
    t.equal(parseIsoDate(text), undefined, JSON.stringify(text))
    t.throws(() => parseExpiresAt(text), { code: 'BROKER_ERR_BAD_REQUEST', statusCode: 400 }, `parseExpiresAt ${JSON.stringify(text)}`)
  }
  t.equal(daysUntil('garbage 1', Date.UTC(2026, 0, 1)), undefined, 'a stored value that is no date shows no days-to-expiry, not a negative one')
})

t.test('parseExpiresAt keeps ISO 8601 in UTC and tolerates surrounding spaces', async (t) => {
  t.equal(parseExpiresAt(' 2027-09-30\n'), '2027-09-30T00:00:00.000Z')
  t.equal(parseIsoDate('2027-09-30\n'), undefined, 'the strict reader itself takes no spaces')
  t.equal(parseExpiresAt('2027-09-30T18:00:00+02:00'), '2027-09-30T16:00:00.000Z')
})

t.test('the command line refuses such a date too: exit 1, nothing stored', async (t) => {
  const dir = t.testdir({ 'atlassian-broker.yaml': 'integrations: { jira-main: { product: jira, cloudId: 11111111-1111-1111-1111-111111111111 } }\n' })
  const env = cliEnv({ BROKER_MASTER_KEY: 'iso-date-cli-master-key-passphrase' })
  const put = await runCli(['secrets', 'put', 'jira-main', '--expires-at', '2027-02-30'], { cwd: dir, env, stdin: JSON.stringify({ client_id: 'cid', client_secret: 'iso-date-cli-secret-0123456789' }) })
  t.equal(put.code, 1, put.stderr)
  t.match(put.stderr, /cannot read expiry date "2027-02-30"; use a real ISO 8601 date/)
  const list = await runCli(['secrets', 'list', '--json'], { cwd: dir, env })
  t.match(JSON.parse(list.stdout), [{ integration: 'jira-main', state: 'missing' }], 'nothing was stored')
})
