import t from 'tap'
import { request } from 'undici'
import { startHarness } from '../helpers/broker-harness.js'

t.test('smoke: GET myself through the broker', async (t) => {
  const h = await startHarness(t)
  const res = await request(`${h.url}/proxy/jira-main/rest/api/3/myself`, { headers: { authorization: `Bearer ${h.callerToken('report-job')}` } })
  const body = await res.body.json()
  t.equal(res.statusCode, 200, JSON.stringify(body))
  t.equal(h.fake.exchanges, 1)
  console.log(body, h.logs.slice(-3))
})
