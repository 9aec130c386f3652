/**
 * Fastify's schema compilers (ajv and fast-json-stringify, about 300 modules), built only if a route ever has a
 * schema. Fastify requires both when an instance is created; the broker's routes validate with zod and have no JSON
 * schema, so `serve` would pay their load time and memory at every start for nothing (bench/README.md, "footprint").
 */
import { createRequire } from 'node:module'
import type { FastifyServerOptions } from 'fastify'

// Resolved from fastify's own place: they are its dependencies, not the broker's.
const require = createRequire(createRequire(import.meta.url).resolve('fastify'))

type Factory = (...args: unknown[]) => unknown
let validator: Factory | undefined
let serializer: Factory | undefined

export const lazySchemaCompilers: NonNullable<FastifyServerOptions['schemaController']> = {
  compilersFactory: {
    buildValidator: (...args: unknown[]) => {
      validator ??= (require('@fastify/ajv-compiler') as () => Factory)()
      return validator(...args)
    },
    buildSerializer: (...args: unknown[]) => {
      serializer ??= (require('@fastify/fast-json-stringify-compiler') as () => Factory)()
      return serializer(...args)
    }
  } as NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>
}
