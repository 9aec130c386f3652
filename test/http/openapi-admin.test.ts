/** openapi.yaml documents exactly the admin credential routes (the /admin/integrations space). */
import { readFileSync } from 'node:fs'
import Fastify from 'fastify'
import t from 'tap'
import { parse } from 'yaml'
import { createAdminPlugin, type AdminPluginOptions } from '../../src/http/admin-routes.js'

const HTTP_METHODS = new Set(['get', 'head', 'post', 'put', 'patch', 'delete', 'options'])

t.test('every admin credential route is in openapi.yaml, and nothing else there', async (t) => {
  const spec = parse(readFileSync(new URL('../../openapi.yaml', import.meta.url), 'utf8')) as { paths: Record<string, Record<string, unknown>> }
  const served = new Set<string>()
  const app = Fastify()
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') served.add(`${method.toLowerCase()} ${route.url.replace(/:(\w+)/g, '{$1}')}`)
  })
  await app.register(createAdminPlugin({} as AdminPluginOptions))
  await app.ready()
  const documented = new Set<string>()
  for (const [path, item] of Object.entries(spec.paths)) if (path.startsWith('/admin/integrations')) for (const method of Object.keys(item)) if (HTTP_METHODS.has(method)) documented.add(`${method} ${path}`)
  t.same([...served].sort(), [...documented].sort())
  await app.close()
})
