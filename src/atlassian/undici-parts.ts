/**
 * The parts of undici the broker uses (Pool, Agent, request), loaded without undici's index: the index also compiles
 * fetch, WebSocket, EventSource, caches and mocks, about 400 modules, 8 MB of RSS and 100+ ms of every start
 * (bench/README.md, "footprint"). The modules are undici's own, so classes and error codes are the same as through
 * `import 'undici'` (tests that import it share them, and the global dispatcher). They load at the first upstream
 * call, not at start: `serve` answers probes and refusals without them, and they were a fifth of its start-up.
 */
import { createRequire } from 'node:module'
import type * as Undici from 'undici'

interface Parts {
  Pool: typeof Undici.Pool
  Agent: typeof Undici.Agent
  parseURL: (url: string | URL) => URL
  getGlobalDispatcher: () => Undici.Dispatcher
}

let loaded: Parts | undefined

function parts (): Parts {
  if (loaded !== undefined) return loaded
  const require = createRequire(import.meta.url)
  const Dispatcher = require('undici/lib/dispatcher/dispatcher.js') as { prototype: object }
  // What undici's index does: the request/stream/pipeline/connect/upgrade methods on every dispatcher.
  Object.assign(Dispatcher.prototype, require('undici/lib/api/index.js') as object)
  loaded = {
    Pool: require('undici/lib/dispatcher/pool.js') as typeof Undici.Pool,
    Agent: require('undici/lib/dispatcher/agent.js') as typeof Undici.Agent,
    parseURL: (require('undici/lib/core/util.js') as { parseURL: Parts['parseURL'] }).parseURL,
    getGlobalDispatcher: (require('undici/lib/global.js') as { getGlobalDispatcher: Parts['getGlobalDispatcher'] }).getGlobalDispatcher
  }
  return loaded
}

export function createPool (origin: string, options: Undici.Pool.Options): Undici.Pool {
  return new (parts().Pool)(origin, options)
}

export function createAgent (options: Undici.Agent.Options): Undici.Agent {
  return new (parts().Agent)(options)
}

/** undici's `request(url, options)` for the calls the broker makes (a full URL, no `path` option). */
export function request (url: string | URL, options: Omit<Undici.Dispatcher.RequestOptions, 'origin' | 'path' | 'method'> & Partial<Pick<Undici.Dispatcher.RequestOptions, 'method'>> & { dispatcher?: Undici.Dispatcher } = {}): Promise<Undici.Dispatcher.ResponseData> {
  const { parseURL, getGlobalDispatcher } = parts()
  const parsed = parseURL(url)
  const { dispatcher = getGlobalDispatcher(), ...rest } = options
  return dispatcher.request({
    ...rest,
    origin: parsed.origin,
    path: parsed.search ? `${parsed.pathname}${parsed.search}` : parsed.pathname,
    method: rest.method ?? (rest.body ? 'PUT' : 'GET')
  })
}
