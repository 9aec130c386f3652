/** openapi.yaml and the code stay in step: every error code, every route and method. */
import { readFileSync } from 'node:fs'
import t from 'tap'
import { parse } from 'yaml'
import { ERROR_CODES } from '../../src/errors.js'
import { startHarness } from '../helpers/broker-harness.js'

interface OpenApi {
  paths: Record<string, Record<string, unknown>>
  components: { schemas: { Problem: { properties: { code: { enum: string[], 'x-codes': Record<string, { status: number }> } } } } }
}

const spec = parse(readFileSync(new URL('../../openapi.yaml', import.meta.url), 'utf8')) as OpenApi
const HTTP_METHODS = new Set(['get', 'head', 'post', 'put', 'patch', 'delete', 'options'])

t.test('every error code is documented, with its status, and nothing extra', async (t) => {
  const code = spec.components.schemas.Problem.properties.code
  t.same([...code.enum].sort(), [...ERROR_CODES].sort())
  t.same(Object.keys(code['x-codes']).sort(), [...ERROR_CODES].sort())
})

t.test('every route the broker serves is documented, and every documented route exists', async (t) => {
  const routes: Array<{ method: string, url: string }> = []
  await startHarness(t, {
    config: { callers: { jwt: { audience: 'atlassian-broker', hs256Secret: 'test-caller-secret-0123456789-abcdefghijklmnop' }, admin: { role: 'broker-admin' } }, mcp: { enabled: true } },
    brokerOptions: {
      onRoute: (route) => {
        for (const method of [route.method].flat()) routes.push({ method: method.toLowerCase(), url: route.url })
      }
    }
  })
  const served = new Set(routes.filter((route) => route.method !== 'head' || !routes.some((other) => other.url === route.url && other.method === 'get'))
    .map((route) => `${route.method} ${route.url.replace(/:(\w+)/g, '{$1}').replace(/\*$/, '{path}')}`))
  const documented = new Set<string>()
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const method of Object.keys(item)) if (HTTP_METHODS.has(method)) documented.add(`${method} ${path}`)
  }
  for (const route of served) t.ok(documented.has(route), `documented: ${route}`)
  for (const route of documented) {
    if (route.startsWith('head ') && served.has(route.replace('head ', 'get '))) continue
    t.ok(served.has(route), `served: ${route}`)
  }
})
