/**
 * The exact credential documents a platform team stores for an integration:
 * `{client_id, client_secret}` for OAuth 2.0 client credentials, `{token[, email]}` for a scoped API token.
 * Lifecycle fields (`expires_at`, `owner`, ...) are metadata and live beside the credential, never inside it.
 * Problems name the field; they never echo a value, because the value may be the secret itself.
 */
import * as z from 'zod'
import { CredentialInvalidError } from '../errors.js'
import { METADATA_KEYS, type CredentialData } from './secret-store.js'

export type CredentialKind = 'oauth' | 'api-token'

const METADATA_FIELDS: ReadonlySet<string> = new Set(METADATA_KEYS)

const secretString = z.string().min(1).refine((value) => value.trim() === value, 'has leading or trailing whitespace')

const schemas = {
  oauth: z.strictObject({ client_id: secretString, client_secret: secretString }),
  'api-token': z.strictObject({ token: secretString, email: z.email().optional() })
} as const

const EXPECTED: Record<CredentialKind, string> = {
  oauth: '{"client_id", "client_secret"}',
  'api-token': '{"token"[, "email"]}'
}

/** Validates a credential document for an integration of the given kind; throws CredentialInvalidError. */
export function parseCredential (kind: CredentialKind, json: unknown): CredentialData {
  const schema = schemas[kind]
  if (schema === undefined) throw new CredentialInvalidError(`unknown credential kind ${JSON.stringify(String(kind))}`)
  const result = schema.safeParse(json)
  if (result.success) return Object.freeze(result.data)
  const problems = result.error.issues.map((issue) => describe(issue, json, kind))
  throw new CredentialInvalidError(`${[...new Set(problems)].join('; ')} (a ${kind} credential is exactly ${EXPECTED[kind]})`)
}

/** The kind a document is a valid credential of, if any (a rotation with the other kind is a conflict, not bad input).
 */
export function credentialKindOf (json: unknown): CredentialKind | undefined {
  return (Object.keys(schemas) as CredentialKind[]).find((kind) => schemas[kind].safeParse(json).success)
}

/** One issue in words, built from the field name and the issue code only (zod messages could quote input). */
function describe (issue: z.core.$ZodIssue, json: unknown, kind: CredentialKind): string {
  const field = issue.path.length > 0 ? fieldName(String(issue.path[0])) : undefined
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => METADATA_FIELDS.has(key)
        ? `field ${fieldName(key)} is metadata: set it beside the credential, not inside it`
        : `unexpected field ${fieldName(key)}`).join('; ')
    case 'invalid_type':
      if (field === undefined) return `expected a JSON object, got ${describeType(json)}`
      return isObject(json) && json[String(issue.path[0])] === undefined
        ? `missing field ${field}`
        : `field ${field} must be a string`
    case 'too_small':
      return `field ${field ?? '(root)'} must not be empty`
    case 'invalid_format':
      return `field ${field ?? '(root)'} is not a valid ${issue.format === 'email' ? 'email address' : issue.format}`
    case 'custom':
      return `field ${field ?? '(root)'} ${issue.message}`
    default:
      return `field ${field ?? '(root)'} is invalid for a ${kind} credential`
  }
}

/** Field names come from the caller: quote them, and never print a long one (it may be a value pasted as a key). */
function fieldName (name: string): string {
  return name.length > 40 ? `(a ${name.length}-character name)` : JSON.stringify(name)
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function describeType (value: unknown): string {
  if (value === null) return 'null'
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`
}
