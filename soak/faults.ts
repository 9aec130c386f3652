/**
 * The soak's world: the fake Atlassian and the fake Vault (test/helpers, in the orchestrator's process), three
 * integrations with their own service accounts, and the fault schedule. Faults are placed so each caller-visible error
 * can be attributed: gateway faults go to their own request paths, token-endpoint faults to the `jira-faulty`
 * integration's client only, Atlassian revoking tokens to `wiki-main` (whose calls must all still succeed), Vault
 * outages to everyone (cached credentials must hide them).
 */
import { pino } from 'pino'
import { createVaultStore } from '../src/secrets/vault/vault-store.js'
import { FakeAtlassian, json, type FakeResponse } from '../test/helpers/fake-atlassian.js'
import { startBrokerVault } from '../test/helpers/test-stores.js'
import type { FakeVault } from '../test/helpers/fake-vault.js'

export const JIRA_CLOUD_ID = '11111111-1111-1111-1111-111111111111'
export const WIKI_CLOUD_ID = '22222222-2222-2222-2222-222222222222'
export const CALLER_SECRET = 'soak-caller-secret-0123456789-abcdefghijklmnop'
export const ADMIN_ROLE = 'broker-admin'
export const CLIENTS = { main: 'soak-main-client', wiki: 'soak-wiki-client', faulty: 'soak-faulty-client' } as const
const SECRET = (client: string): string => `${client}-secret-0123456789abcdef`

/** Token-endpoint faults, one per window, for the faulty client only (the last two answer 200 with odd lifetimes). */
export const TOKEN_FAULTS = ['down', 'error500', 'slow', 'malformed', 'access_denied', 'no-expires-in', 'absurd-expires-in'] as const
export type TokenFault = typeof TOKEN_FAULTS[number]

export interface Window { fault: string, startMs: number, endMs: number, recoveredAfterMs?: number }

export interface SoakWorld {
  fake: FakeAtlassian
  vault: FakeVault
  /** The broker config (raw, as from YAML). */
  config: Record<string, unknown>
  /** Windows of the token fault for jira-faulty, and of Vault outages. */
  tokenWindows: Window[]
  vaultWindows: Window[]
  revocations: number
  close: () => Promise<void>
}

const TIMEOUTS = { connectMs: 1_000, headersMs: 800, bodyMs: 800, tokenMs: 1_000 }
export const HANG_MS = 2_500

export async function startWorld (): Promise<SoakWorld> {
  const fake = await FakeAtlassian.start({ sites: [{ product: 'jira', cloudId: JIRA_CLOUD_ID }, { product: 'confluence', cloudId: WIKI_CLOUD_ID }] })
  for (const client of Object.values(CLIENTS)) fake.addClient(client, SECRET(client))
  const { fakeVault: vault, vaultConfig } = await startBrokerVault()
  // Short token lifetimes, so renewals and re-logins happen during the soak, not once in its first minute.
  const appRole = vault.addAppRole({ name: 'soak', policies: ['atlassian-broker', 'atlassian-broker-rotator'], tokenTtl: 60, tokenMaxTtl: 300 })
  const auth = { method: 'approle' as const, roleId: appRole.roleId, secretId: appRole.secretId, mountPath: 'approle' }
  const writer = await createVaultStore({ config: { ...vaultConfig, auth: { method: 'token', token: vault.rootToken } }, logger: pino({ level: 'silent' }) })
  await writer.put('jira-main', { client_id: CLIENTS.main, client_secret: SECRET(CLIENTS.main) })
  await writer.put('wiki-main', { client_id: CLIENTS.wiki, client_secret: SECRET(CLIENTS.wiki) })
  await writer.put('jira-faulty', { client_id: CLIENTS.faulty, client_secret: SECRET(CLIENTS.faulty) })
  await writer.close()

  const config = {
    listen: { host: '127.0.0.1', port: 0 },
    callers: { jwt: { audience: 'atlassian-broker', hs256Secret: CALLER_SECRET }, admin: { role: ADMIN_ROLE } },
    atlassian: { tokenUrl: fake.tokenUrl, apiUrl: fake.url, timeouts: TIMEOUTS },
    integrations: {
      'jira-main': { product: 'jira', cloudId: JIRA_CLOUD_ID },
      'wiki-main': { product: 'confluence', cloudId: WIKI_CLOUD_ID },
      'jira-faulty': { product: 'jira', cloudId: JIRA_CLOUD_ID }
    },
    policy: [
      { caller: 'soak-job', integration: 'jira-main', methods: ['GET', 'POST', 'PUT'], paths: ['/rest/api/3/**'] },
      { caller: 'soak-job', integration: 'wiki-main', methods: ['GET'], paths: ['/wiki/**'] },
      { caller: 'soak-job', integration: 'jira-faulty', methods: ['GET'], paths: ['/rest/api/3/**'] }
    ],
    secrets: { store: 'vault', vault: { ...vaultConfig, auth, requestTimeoutMs: 1_000, revalidateSeconds: 30 } },
    limits: { bodyBytes: 8 * 1024 * 1024 },
    shutdownGraceMs: 5_000
  }
  return {
    fake,
    vault,
    config,
    tokenWindows: [],
    vaultWindows: [],
    revocations: 0,
    close: async () => {
      await fake.close()
      await vault.close()
    }
  }
}

function tokenFaultResponse (fault: TokenFault): FakeResponse | undefined {
  switch (fault) {
    case 'down': return { status: 0, destroySocket: true }
    case 'error500': return json(500, { error: 'server_error' })
    case 'slow': return { ...json(500, { error: 'too_late' }), delayMs: TIMEOUTS.tokenMs * 2 }
    case 'malformed': return { status: 200, headers: { 'content-type': 'application/json' }, body: '<html>maintenance</html>' }
    case 'access_denied': return json(403, { error: 'access_denied', error_description: 'Unauthorized' })
    default: return undefined
  }
}

export interface Schedule { stop: () => void }

/**
 * Runs the fault schedule: a token fault window of `windowMs` every `everyMs` (kinds in turn), a Vault outage (down
 * or sealed) of 10 s every 120 s, and Atlassian revoking the wiki client's tokens every 20 s. `dropToken` asks the
 * broker's admin API to drop jira-faulty's cached token, so the window's exchanges really happen. No window starts
 * after `lastStartMs`, so the run ends with time to see every recovery.
 */
export function runSchedule (
  world: SoakWorld,
  options: {
    startedAt: number
    everyMs: number
    windowMs: number
    lastStartMs: number
    dropToken: () => Promise<void>
    log: (line: string) => void
  }
): Schedule {
  const timers: NodeJS.Timeout[] = []
  let index = 0
  const tokenWindow = async (): Promise<void> => {
    const fault = TOKEN_FAULTS[index++ % TOKEN_FAULTS.length] as TokenFault
    const window: Window = { fault, startMs: Date.now() - options.startedAt, endMs: 0 }
    world.tokenWindows.push(window)
    const answer = tokenFaultResponse(fault)
    if (answer !== undefined) {
      // A queue whose matcher is true only for the faulty client and only during this window: nobody else sees the
      // fault.
      world.fake.setNextResponses(
        (r) => r.endpoint === 'token' && r.clientId === CLIENTS.faulty && window.endMs === 0,
        Array.from({ length: 10_000 }, () => ({ ...answer }))
      )
    } else {
      world.fake.tokenEndpointMode = fault as 'no-expires-in' | 'absurd-expires-in'
    }
    options.log(`token fault ${fault} on for ${options.windowMs / 1000} s`)
    await options.dropToken().catch((error: Error) => options.log(`drop token failed: ${error.message}`))
    timers.push(
      setTimeout(() => {
        world.fake.tokenEndpointMode = 'ok'
        window.endMs = Date.now() - options.startedAt
        options.log(`token fault ${fault} off`)
      }, options.windowMs)
    )
  }
  const due = (): boolean => Date.now() - options.startedAt <= options.lastStartMs
  timers.push(
    setTimeout(function next () {
      if (!due()) return
      void tokenWindow()
      timers.push(setTimeout(next, options.everyMs))
    }, options.everyMs / 2)
  )

  let vaultIndex = 0
  const vaultWindow = async (): Promise<void> => {
    const fault = vaultIndex++ % 2 === 0 ? 'vault-down' : 'vault-sealed'
    const window: Window = { fault, startMs: Date.now() - options.startedAt, endMs: 0 }
    world.vaultWindows.push(window)
    options.log(`${fault} for 10 s`)
    if (fault === 'vault-down') await world.vault.down()
    else world.vault.sealed = true
    timers.push(
      setTimeout(() => {
        void (async () => {
          if (fault === 'vault-down') await world.vault.up()
          else world.vault.sealed = false
          window.endMs = Date.now() - options.startedAt
          options.log(`${fault} over`)
        })()
      }, 10_000)
    )
  }
  timers.push(
    setTimeout(function next () {
      if (!due()) return
      void vaultWindow()
      timers.push(setTimeout(next, 120_000))
    }, 100_000)
  )

  const revoke = setInterval(() => {
    world.fake.revokeTokensOf(CLIENTS.wiki)
    world.revocations++
  }, 20_000)
  // The fakes keep every request they saw; a soak must not measure their memory, nor let them grow without bound.
  const trim = setInterval(() => {
    world.fake.requests.length = 0
    world.vault.requests.length = 0
  }, 5_000)
  return {
    stop: () => {
      for (const timer of timers) clearTimeout(timer)
      clearInterval(revoke)
      clearInterval(trim)
      world.fake.tokenEndpointMode = 'ok'
    }
  }
}
