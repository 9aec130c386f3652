/**
 * The parts of undici the broker uses (Pool, Agent, request), loaded without undici's index: the index also compiles
 * fetch, WebSocket, EventSource, caches and mocks, about 400 modules, 8 MB of RSS and 100+ ms of every start
 * (bench/README.md, "footprint"). The modules are undici's own, so classes and error codes are the same as through
 * `import 'undici'` (tests that import it share them, and the global dispatcher).
 */
import { createRequire } from 'node:module'
import type * as Undici from 'undici'

const require = createRequire(import.meta.url)
const Dispatcher = require('undici/lib/dispatcher/dispatcher.js') as { prototype: object }
// What undici's index does: the request/stream/pipeline/connect/upgrade methods on every dispatcher.
Object.assign(Dispatcher.prototype, require('undici/lib/api/index.js') as object)
const util = require('undici/lib/core/util.js') as { parseURL: (url: string | URL) => URL }
const { getGlobalDispatcher } = require('undici/lib/global.js') as { getGlobalDispatcher: () => Undici.Dispatcher }

export const Pool = require('undici/lib/dispatcher/pool.js') as typeof Undici.Pool
export const Agent = require('undici/lib/dispatcher/agent.js') as typeof Undici.Agent

/** undici's `request(url, options)` for the calls the broker makes (a full URL, no `path` option). */
export function request (url: string | URL, options: Omit<Undici.Dispatcher.RequestOptions, 'origin' | 'path' | 'method'> & Partial<Pick<Undici.Dispatcher.RequestOptions, 'method'>> & { dispatcher?: Undici.Dispatcher } = {}): Promise<Undici.Dispatcher.ResponseData> {
  const parsed = util.parseURL(url)
  const { dispatcher = getGlobalDispatcher(), ...rest } = options
  return dispatcher.request({
    ...rest,
    origin: parsed.origin,
    path: parsed.search ? `${parsed.pathname}${parsed.search}` : parsed.pathname,
    method: rest.method ?? (rest.body ? 'PUT' : 'GET')
  })
}
