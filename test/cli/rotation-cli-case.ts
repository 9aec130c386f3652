/**
 * `secrets rotate | rollback | history` through the real command line. One store kind per test file
 * (rotation-commands.test.ts: file, rotation-commands-vault.test.ts: Vault): each spawns the CLI ten times.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { userInfo } from 'node:os'
import path from 'node:path'
import type { Test } from 'tap'
import { stringify } from 'yaml'
import { cliEnv, runCli } from '../helpers/cli.js'
import { FakeAtlassian } from '../helpers/fake-atlassian.js'
import { startBrokerVault, type StoreKind } from '../helpers/test-stores.js'

const CLOUD_ID = '11111111-1111-1111-1111-111111111111'
const FIRST = { client_id: 'cli-client-1', client_secret: 'cli-first-secret-aaaaaaaa' }
const SECOND = { client_id: 'cli-client-2', client_secret: 'cli-second-secret-bbbbbbb' }
const WRONG = { client_id: 'cli-client-1', client_secret: 'cli-wrong-secret-cccccccc' }
const MASTER = 'cli-rotation-master-key-passphrase'

export async function rotationCliCase (t: Test, kind: StoreKind): Promise<void> {
  await t.test(`${kind} store: rotate verifies first, rollback restores, history shows who and when, the audit file records it all`, async (t) => {
    const dir = t.testdir({})
    const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: CLOUD_ID }] })
    fake.addClient(FIRST.client_id, FIRST.client_secret)
    let secrets: Record<string, unknown> = { store: 'file', file: { path: path.join(dir, 'secrets.enc') } }
    if (kind === 'vault') {
      const { fakeVault, vaultConfig } = await startBrokerVault()
      t.teardown(() => fakeVault.close())
      secrets = { store: 'vault', vault: vaultConfig }
    }
    const auditFile = path.join(dir, 'audit.jsonl')
    writeFileSync(path.join(dir, 'atlassian-broker.yaml'), stringify({
      atlassian: { tokenUrl: fake.tokenUrl, apiUrl: fake.url },
      callers: { admin: { auditFile } },
      integrations: { 'jira-main': { product: 'jira', cloudId: CLOUD_ID, credential: 'oauth' } },
      secrets
    }))
    const env = cliEnv({ BROKER_MASTER_KEY: MASTER })
    const cli = (args: string[], stdin?: unknown): ReturnType<typeof runCli> =>
      runCli(args, { cwd: dir, env, ...(stdin === undefined ? {} : { stdin: JSON.stringify(stdin) }) })
    const actor = `${userInfo().username}@cli`

    t.equal((await cli(['secrets', 'put', 'jira-main'], FIRST)).code, 0)

    const refused = await cli(['secrets', 'rotate', 'jira-main'], WRONG)
    t.equal(refused.code, 1)
    t.match(refused.stderr, /refused by Atlassian and was not stored.*BROKER_ERR_CREDENTIAL_VERIFICATION_FAILED/)

    fake.addClient(SECOND.client_id, SECOND.client_secret)
    const badReason = await cli(['secrets', 'rotate', 'jira-main', '--reason', 'two\nlines'], SECOND)
    t.equal(badReason.code, 1)
    t.match(badReason.stderr, /BROKER_ERR_REASON_INVALID/)
    const rotated = await cli(['secrets', 'rotate', 'jira-main', '--expires-at', '2027-03-31', '--owner', 'team-reports', '--reason', 'INC-7 leak'], SECOND)
    t.equal(rotated.code, 0, rotated.stderr)
    t.match(rotated.stdout, /Verified the new oauth credential of jira-main with one exchange at the token endpoint and one read \(GET \/rest\/api\/3\/myself answered 200\)\.\nStored it as version 2 \(was 1\)\./)
    t.match(rotated.stdout, /tokens minted from older versions stay in use/)

    const history = await cli(['secrets', 'history', 'jira-main'])
    t.equal(history.code, 0, history.stderr)
    t.match(history.stdout, /current version 2; last rotated \S+ by .*@cli; expires 2027-03-31T00:00:00.000Z \(-?\d+ days\); owner team-reports/)
    t.match(history.stdout, /VERSION\s+CREATED\s+WRITTENBY\s+REASON\s+READABLE\s+CURRENT/)
    t.match(history.stdout, new RegExp(`\\n2\\s+\\S+\\s+${actor.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s+INC-7 leak\\s+yes\\s+yes`))

    const rolled = await cli(['secrets', 'rollback', 'jira-main', '--reason', 'back out INC-7'])
    t.equal(rolled.code, 0, rolled.stderr)
    t.match(rolled.stdout, /Verified the credential of version 1 of jira-main again with one exchange at the token endpoint and one read \(GET \/rest\/api\/3\/myself answered 200\)\.\nStored it as version 3 \(was 2\)\./)
    const json = JSON.parse((await cli(['secrets', 'history', 'jira-main', '--json'])).stdout) as { currentVersion: number, versions: Array<{ version: number, reason?: string }> }
    t.equal(json.currentVersion, 3)
    t.same(json.versions.map((entry) => [entry.version, entry.reason]), [[3, 'back out INC-7'], [2, 'INC-7 leak'], [1, undefined]])

    const toMissing = await cli(['secrets', 'rollback', 'jira-main', '--to', '9'])
    t.equal(toMissing.code, 1)
    t.match(toMissing.stderr, /BROKER_ERR_STATE_CONFLICT/)
    t.equal((await cli(['secrets', 'rollback', 'jira-main', '--to', 'two'])).code, 2, 'a usage error')

    const list = JSON.parse((await cli(['secrets', 'list', '--json'])).stdout) as Array<Record<string, unknown>>
    t.match(list, [{ integration: 'jira-main', version: 3, expiresAt: '2027-03-31T00:00:00.000Z', daysToExpiry: Number }])

    const audit = readFileSync(auditFile, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>)
    t.match(audit, [
      { action: 'put', outcome: 'ok', oldVersion: null, newVersion: 1, via: 'cli', actor, detail: /^verified: token exchange and GET \/rest\/api\/3\/myself answered 200$/ },
      { action: 'rotate', outcome: 'refused', code: 'BROKER_ERR_CREDENTIAL_VERIFICATION_FAILED', oldVersion: 1, newVersion: null, via: 'cli', actor },
      { action: 'rotate', outcome: 'refused', code: 'BROKER_ERR_REASON_INVALID', oldVersion: 1 },
      { action: 'rotate', outcome: 'ok', oldVersion: 1, newVersion: 2, reason: 'INC-7 leak' },
      { action: 'rollback', outcome: 'ok', oldVersion: 2, newVersion: 3, detail: 'restored version 1', reason: 'back out INC-7' },
      { action: 'rollback', outcome: 'refused', code: 'BROKER_ERR_STATE_CONFLICT' }
    ])
    const everything = [readFileSync(auditFile, 'utf8'), refused.stdout, refused.stderr, rotated.stdout, rotated.stderr, history.stdout, rolled.stdout].join('\n')
    for (const secret of [FIRST.client_secret, SECOND.client_secret, WRONG.client_secret]) t.notOk(everything.includes(secret), 'no secret printed or audited')
  })
}
