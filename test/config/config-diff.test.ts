/** A reload's policy change in words (issue 24 §4): "policy: 3 → 3 rules" hid a widened rule. */
import t from 'tap'
import { describeChanges } from '../../src/config/config-diff.js'
import type { PolicyRuleConfig } from '../../src/config/schema.js'

const rule = (extra: Partial<PolicyRuleConfig> = {}): PolicyRuleConfig =>
  ({ caller: 'job', integration: 'jira-main', methods: ['GET'], paths: ['/rest/api/3/issue/**'], ...extra })
const diff = (before: PolicyRuleConfig[], after: PolicyRuleConfig[]): string[] =>
  describeChanges({ integrations: {}, policy: before }, { integrations: {}, policy: after })

t.test('regression: same count, one rule widened, is reported as widened with both versions', async (t) => {
  t.same(diff([rule(), rule({ caller: 'other' })], [rule({ methods: ['GET', 'POST'] }), rule({ caller: 'other' })]), [
    'rule widened: job → jira-main GET /rest/api/3/issue/** → job → jira-main GET,POST /rest/api/3/issue/**'
  ])
})

t.test('added, removed, narrowed (a tighter rateLimit), and a reorder that changes nothing', async (t) => {
  const limited = rule({ rateLimit: { perSecond: 1, scope: 'pod' } })
  t.same(diff([rule({ caller: 'a' }), rule()], [rule(), rule({ caller: 'b' })]), [
    'rule added: b → jira-main GET /rest/api/3/issue/**',
    'rule removed: a → jira-main GET /rest/api/3/issue/**'
  ])
  t.same(diff([rule()], [limited]), [
    'rule narrowed: job → jira-main GET /rest/api/3/issue/** → job → jira-main GET /rest/api/3/issue/** rateLimit 1/s burst default (pod)'
  ])
  t.same(diff([rule({ caller: 'a' }), rule()], [rule(), rule({ caller: 'a' })]), [], 'a reorder is no change')
})
