/**
 * The broker's configuration as one zod schema, and the types read from it. Defaults make `atlassian-broker serve`
 * work with no file at all. Reading a file, `${ENV}` interpolation, the checks across sections and path resolution
 * are in load.ts.
 */
import * as z from 'zod'
import { HTTP_METHODS } from '../policy/http-methods.js'
import { adminSchema, jwtSchema } from './caller-schema.js'

export const DEFAULT_PORT = 8787
export const DEFAULT_DATA_DIR = './.broker'

/** A cloudId is a UUID. Exported for the site resolver, which checks what tenant_info answers. */
export const CLOUD_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const name = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/i, 'use letters, digits, ".", "_" or "-" (at most 63)')
const httpMethod = z.enum([...HTTP_METHODS, '*'])
const seconds = z.number().int().nonnegative()
const positiveInt = z.number().int().positive()

const rateLimitSchema = z.strictObject({
  perSecond: z.number().positive(),
  burst: positiveInt.optional(),
  /** `fleet`: counted across every sidecar of the fleet (needs `fleet`); `pod` (default): per process. */
  scope: z.enum(['pod', 'fleet']).default('pod')
})

const policyRuleSchema = z.strictObject({
  caller: z.string().min(1),
  integration: z.string().min(1),
  methods: z.array(httpMethod).min(1),
  paths: z.array(z.string().startsWith('/', 'path globs start with "/"')).min(1),
  rateLimit: rateLimitSchema.optional(),
  maxConcurrent: positiveInt.optional(),
  /** Atlassian points each matching caller may spend per hour (docs/points.md; fleet-wide in fleet mode). */
  pointsPerHour: positiveInt.optional(),
  /** `fleet`: maxConcurrent counts calls in flight on every sidecar of the fleet (needs `fleet`); `pod` (default): per
   * process. */
  maxConcurrentScope: z.enum(['pod', 'fleet']).optional()
})

const integrationSchema = z.strictObject({
  product: z.enum(['jira', 'confluence']),
  cloudId: z.string().regex(CLOUD_ID_PATTERN, 'a cloudId is a UUID (see README: finding your cloudId)').optional(),
  /** `acme.atlassian.net`: the broker looks the cloudId up (src/atlassian/); with `cloudId` too, the two must agree. */
  site: z.string().optional(),
  credential: z.enum(['oauth', 'api-token']).default('oauth'),
  /** The integration's own rate and/or Atlassian points per hour (docs/points.md), shared max-min fairly among its
   * active callers (fleet-wide in fleet mode). */
  budget: z.strictObject({
    perSecond: z.number().positive().optional(), burst: positiveInt.optional(), pointsPerHour: positiveInt.optional()
  })
    .refine((budget) => budget.perSecond !== undefined || budget.pointsPerHour !== undefined, 'a budget gives perSecond, pointsPerHour or both')
    .optional()
}).refine((integration) => integration.cloudId !== undefined || integration.site !== undefined, 'give site (e.g. acme.atlassian.net) or cloudId')

const vaultAuthSchema = z.discriminatedUnion('method', [
  z.strictObject({ method: z.literal('approle'), roleId: z.string().min(1), secretId: z.string().min(1).optional(), secretIdFile: z.string().optional(), mountPath: z.string().default('approle') })
    .refine((auth) => auth.secretId !== undefined || auth.secretIdFile !== undefined, 'approle needs secretId or secretIdFile'),
  z.strictObject({ method: z.literal('kubernetes'), role: z.string().min(1), jwtPath: z.string().default('/var/run/secrets/kubernetes.io/serviceaccount/token'), mountPath: z.string().default('kubernetes') }),
  z.strictObject({ method: z.literal('token'), token: z.string().min(1) })
])

const vaultSchema = z.strictObject({
  address: z.url(),
  mount: z.string().min(1).default('secret'),
  prefix: z.string().default('atlassian-broker'),
  namespace: z.string().optional(),
  tls: z.strictObject({ caFile: z.string().optional(), serverName: z.string().optional() }).optional(),
  auth: vaultAuthSchema,
  /** How often a cached secret is revalidated against `current_version`. */
  revalidateSeconds: positiveInt.default(30),
  requestTimeoutMs: positiveInt.default(5_000)
})

const secretsSchema = z.strictObject({
  store: z.enum(['file', 'vault']).default('file'),
  /** Without a path the store lives in `dataDir` (filled in by configSchema's transform, which knows dataDir). */
  file: z.strictObject({ path: z.string().min(1).optional() }).default({}),
  vault: vaultSchema.optional()
}).refine((secrets) => secrets.store !== 'vault' || secrets.vault !== undefined, { message: 'store: vault needs a vault section', path: ['vault'] })

const redisUrl = z.string().regex(/^rediss?:\/\/[^\s]+$/, 'a redis:// or rediss:// (TLS) URL')
const hostPort = z.string().regex(/^[^\s:/]+:\d{1,5}$/, 'host:port')
/** A cluster seed is only where to start: the client keeps its host and port, so credentials in it would be lost. */
const clusterSeed = z.string().regex(/^rediss?:\/\/[^\s@/]+\/?$/, 'a redis:// or rediss:// URL of host and port, without credentials (give them in fleet.redis.username and password or passwordFile)')

/** Fleet mode (src/fleet/): sidecars share tokens, quota holds, limits and usage through Redis. Off when absent. */
const fleetSchema = z.strictObject({
  redis: z.strictObject({
    /** Exactly one of: one Redis; Redis Cluster seed nodes (the client learns the rest); Redis Sentinel. */
    url: redisUrl.optional(),
    cluster: z.strictObject({ nodes: z.array(clusterSeed).min(1).max(32) }).optional(),
    /** The sentinels' own ACL user and password (their `requirepass`), apart from the primary's below. */
    sentinel: z.strictObject({
      nodes: z.array(hostPort).min(1).max(32),
      masterName: z.string().min(1),
      username: z.string().min(1).optional(),
      password: z.string().min(1).optional(),
      passwordFile: z.string().min(1).optional()
    }).refine((sentinel) => sentinel.password === undefined || sentinel.passwordFile === undefined, 'give password or passwordFile, not both').optional(),
    username: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    /** A mounted Secret holding the ACL password (read at start). */
    passwordFile: z.string().min(1).optional(),
    tls: z.strictObject({ caFile: z.string().optional(), serverName: z.string().optional() }).optional(),
    /** Every key and channel starts with this; two deployments on one Redis never see each other's data. */
    keyPrefix: z.string().regex(/^[a-z0-9._-]{1,64}$/i).default('atlassian-broker'),
    /** A command slower than this counts as a Redis failure: the sidecar answers from local state instead. */
    commandTimeoutMs: positiveInt.max(10_000).default(250),
    connectTimeoutMs: positiveInt.default(2_000)
  }).refine((redis) => redis.password === undefined || redis.passwordFile === undefined, 'give password or passwordFile, not both')
    .refine((redis) => [redis.url, redis.cluster, redis.sentinel].filter((where) => where !== undefined).length === 1, 'give exactly one of url, cluster (seed nodes) and sentinel'),
  /** This sidecar's name in fleet usage (default: $HOSTNAME, the pod name on Kubernetes, and the process id). */
  podName: z.string().regex(/^[a-z0-9._:-]{1,128}$/i).optional()
})

/** When a credential counts as close to expiry (src/credentials/expiry-rule.ts): a warning at or under `warnDays`
 * whole days left, critical at or under `criticalDays`. The watcher's log, the admin API, the ops page and the
 * threshold gauge the Prometheus alerts compare against all read these. */
export const DEFAULT_EXPIRY_WARNING = Object.freeze({ warnDays: 30, criticalDays: 7 })
const wholeDays = z.number().int().nonnegative().max(3_650)
const credentialsSchema = z.strictObject({
  expiryWarning: z
    .strictObject({
      warnDays: wholeDays.default(DEFAULT_EXPIRY_WARNING.warnDays),
      criticalDays: wholeDays.default(DEFAULT_EXPIRY_WARNING.criticalDays)
    })
    .refine((days) => days.criticalDays <= days.warnDays, 'criticalDays must be at most warnDays')
    .default({ ...DEFAULT_EXPIRY_WARNING })
}).default({ expiryWarning: { ...DEFAULT_EXPIRY_WARNING } })

export const configSchema = z.strictObject({
  listen: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65_535).default(DEFAULT_PORT)
    })
    .default({ host: '127.0.0.1', port: DEFAULT_PORT }),
  dataDir: z.string().default(DEFAULT_DATA_DIR),
  callers: z
    .strictObject({ jwt: jwtSchema.default(jwtSchema.parse({})), admin: adminSchema })
    .default({ jwt: jwtSchema.parse({}), admin: adminSchema.parse(undefined) }),
  atlassian: z
    .strictObject({
      tokenUrl: z.url().default('https://auth.atlassian.com/oauth/token'),
      apiUrl: z.url().default('https://api.atlassian.com'),
      /** Where `{site}/_edge/tenant_info` is asked for an integration's cloudId; `{site}` is the validated site name.
       */
      siteUrl: z
        .string()
        .includes('{site}', {
          message: 'must contain {site}, which is replaced by the site name: "https://{site}" (the default) or, for a local ' +
            'test double, "http://127.0.0.1:9000/site/{site}"; /_edge/tenant_info is added'
        })
        .default('https://{site}'),
      /** Site names must end with one of these (so a config value cannot point the broker at any host). */
      siteSuffixes: z
        .array(z.string().regex(/^\.[a-z0-9.-]+$/i, 'a suffix looks like ".atlassian.net"'))
        .min(1)
        .default(['.atlassian.net']),
      /** Tokens are used until `expires_in` minus this margin (folio-sec uses 60 s; we refresh ahead of that). */
      tokenRefreshMarginSeconds: seconds.default(300),
      timeouts: z
        .strictObject({
          connectMs: positiveInt.default(5_000),
          headersMs: positiveInt.default(30_000),
          bodyMs: positiveInt.default(300_000),
          tokenMs: positiveInt.default(10_000)
        })
        .default({ connectMs: 5_000, headersMs: 30_000, bodyMs: 300_000, tokenMs: 10_000 }),
      /** Keep-alive connections per integration: each integration has its own pool, so one cannot starve another. */
      connections: positiveInt.default(64),
      /** Retry of bodiless idempotent requests on 429/503 with Retry-After (src/upstream/retry-policy.ts). Off by
       * default. */
      retry: z
        .strictObject({
          enabled: z.boolean().default(false),
          maxTries: positiveInt.max(10).default(4),
          /** Time budget from the first send to the last try, so a caller's own timeout is not outlived. */
          maxTotalDelayMs: positiveInt.default(15_000),
          baseDelayMs: positiveInt.default(2_000)
        })
        .default({ enabled: false, maxTries: 4, maxTotalDelayMs: 15_000, baseDelayMs: 2_000 })
    })
    .prefault({}),
  integrations: z.record(name, integrationSchema).default({}),
  policy: z.array(policyRuleSchema).default([]),
  credentials: credentialsSchema,
  secrets: secretsSchema.default({ store: 'file', file: {} }),
  limits: z
    .strictObject({
      bodyBytes: positiveInt.default(1_073_741_824 * 2),
      headerBytes: positiveInt.default(16_384),
      replayBufferBytes: positiveInt.default(65_536),
      /** Calls one caller may have in flight at once, over all integrations, unless its policy rule sets maxConcurrent;
       * more wait in the caller's queue (src/limits/seat-queue.ts). */
      callerMaxConcurrent: positiveInt.default(32),
      /** Waiting for a seat instead of a 429: `seats` calls of an integration in flight (default: its pool's
       * `atlassian.connections`); each caller's queue holds `maxPerCaller` calls for `maxWaitMs` at most. */
      queue: z.strictObject({
        seats: positiveInt.optional(),
        maxPerCaller: positiveInt.default(1_000),
        maxWaitMs: positiveInt.default(30_000)
      }).default({ maxPerCaller: 1_000, maxWaitMs: 30_000 }),
      /** An upload slower than this over a `requestBodyIdleMs` window (while the broker reads) gets 408; 0 = off. */
      minUploadBytesPerSecond: z.number().int().nonnegative().default(1_024),
      /** A caller's upload: 408 when no byte arrives for this long (while the broker is ready to read)... */
      requestBodyIdleMs: positiveInt.default(30_000),
      /** ...or when the whole body has not arrived this long after the broker started reading it. */
      requestBodyTotalMs: positiveInt.default(600_000)
    })
    // Parsed from {}: every default above, written once.
    .prefault({}),
  shutdownGraceMs: positiveInt.default(10_000),
  /** SIGHUP always reloads integrations and policy from the file; `watchFile` also reloads when the file changes. */
  reload: z.strictObject({ watchFile: z.boolean().default(false) }).default({ watchFile: false }),
  /** Prometheus text at `path`, unauthenticated unless `bearerTokenFile` is set; on the main listener unless `listen`
   * is set. */
  metrics: z
    .strictObject({
      enabled: z.boolean().default(true),
      path: z.string().startsWith('/').default('/metrics'),
      /** A listener of its own for the metrics, /healthz and /readyz (no /proxy there): the address a scraper may
       * reach.
       */
      listen: z
        .strictObject({ host: z.string().default('127.0.0.1'), port: z.number().int().min(0).max(65_535) })
        .optional(),
      /** Scrapes must send `Authorization: Bearer <this file's text>`; re-read at each scrape. */
      bearerTokenFile: z.string().min(1).optional()
    })
    .default({ enabled: true, path: '/metrics' }),
  /** Append-only JSON-lines audit of every proxied call (caller, path, status, Atlassian request id); off when unset.
   *  Past `maxFileBytes` the file is renamed to `<file>.1` (replacing the previous one) and a new one is started. */
  usage: z
    .strictObject({ auditFile: z.string().min(1).optional(), maxFileBytes: positiveInt.min(4_096).default(67_108_864) })
    .default({ maxFileBytes: 67_108_864 }),
  /** `/mcp` for AI agents (src/mcp/, docs/mcp.md): off unless enabled; sessions kept per caller; idle end. */
  mcp: z.strictObject({
    enabled: z.boolean().default(false),
    maxSessionsPerCaller: positiveInt.max(1_000).default(16),
    sessionIdleMs: positiveInt.default(1_800_000)
  }).prefault({}),
  fleet: fleetSchema.optional(),
  logging: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      /** Unauthenticated refusals (4xx without a valid caller token) logged per minute; the rest are counted in one
       * line.
       */
      refusalsPerMinute: z.number().int().nonnegative().default(60)
    })
    .default({ level: 'info', refusalsPerMinute: 60 })
}).transform((config) => ({
  ...config,
  // issue 24 §7: `dataDir` is the store's default location; the store stayed in ./.broker/ whatever dataDir said.
  secrets: { ...config.secrets, file: { path: config.secrets.file.path ?? `${config.dataDir}/secrets.enc` } }
}))

/** The config as written: an integration may name its site and leave the cloudId to be looked up. */
export type ParsedConfig = z.output<typeof configSchema>
export type ConfigInput = z.input<typeof configSchema>
/** An integration whose cloudId is known (given, or resolved from its site by src/atlassian/). */
export type IntegrationConfig = ParsedConfig['integrations'][string] & { cloudId: string }
/** The config the broker runs on: every integration's cloudId is known. */
export type BrokerConfig = Omit<ParsedConfig, 'integrations'> & { integrations: Readonly<Record<string, IntegrationConfig>> }
export type PolicyRuleConfig = BrokerConfig['policy'][number]
export type VaultConfig = z.output<typeof vaultSchema>
export type FleetConfig = z.output<typeof fleetSchema>
