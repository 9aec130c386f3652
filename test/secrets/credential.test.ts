import t from 'tap'
import { parseCredential, type CredentialKind } from '../../src/secrets/credential.js'

const SECRET = 'ATATT3xFfGF0-very-secret-value'

function rejectionOf (kind: CredentialKind, json: unknown): Error & { code?: string, statusCode?: number } {
  try {
    parseCredential(kind, json)
  } catch (error) {
    return error as Error
  }
  throw new Error('expected parseCredential to throw')
}

t.test('accepts the exact documents', async (t) => {
  t.same(parseCredential('oauth', { client_id: 'abc', client_secret: SECRET }), { client_id: 'abc', client_secret: SECRET })
  t.same(parseCredential('api-token', { token: SECRET }), { token: SECRET })
  t.same(parseCredential('api-token', { token: SECRET, email: 'bot@example.com' }), { token: SECRET, email: 'bot@example.com' })
  t.ok(Object.isFrozen(parseCredential('api-token', { token: SECRET })))
})

t.test('names the missing field', async (t) => {
  const error = rejectionOf('oauth', { client_id: 'abc' })
  t.match(error, { code: 'BROKER_ERR_CREDENTIAL_INVALID', statusCode: 400 })
  t.match(error.message, /missing field "client_secret"/)
  t.match(error.message, /exactly \{"client_id", "client_secret"\}/)
  t.match(rejectionOf('api-token', { email: 'bot@example.com' }).message, /missing field "token"/)
})

t.test('names an extra field and rejects metadata inside the credential', async (t) => {
  t.match(rejectionOf('oauth', { client_id: 'a', client_secret: SECRET, scope: 'read' }).message, /unexpected field "scope"/)
  t.match(rejectionOf('api-token', { token: SECRET, client_secret: SECRET }).message, /unexpected field "client_secret"/)
  const withMetadata = rejectionOf('api-token', { token: SECRET, expires_at: '2027-01-01', owner: 'team-a' })
  t.match(withMetadata.message, /field "expires_at" is metadata/)
  t.match(withMetadata.message, /field "owner" is metadata/)
})

t.test('never echoes a value', async (t) => {
  const cases: Array<[CredentialKind, unknown]> = [
    ['oauth', { client_id: SECRET, client_secret: 42 }],
    ['oauth', { client_id: SECRET, client_secret: `${SECRET}\n` }],
    ['api-token', { token: SECRET, email: SECRET }],
    ['api-token', { token: SECRET, [SECRET + SECRET]: 'x' }],
    ['api-token', SECRET],
    ['oauth', { client_id: '', client_secret: SECRET }]
  ]
  for (const [kind, json] of cases) {
    const { message } = rejectionOf(kind, json)
    t.notOk(message.includes(SECRET), message)
  }
  t.match(rejectionOf('oauth', { client_id: 'a', client_secret: 42 }).message, /field "client_secret" must be a string/)
  t.match(rejectionOf('oauth', { client_id: 'a', client_secret: `${SECRET}\n` }).message, /"client_secret" has leading or trailing whitespace/)
  t.match(rejectionOf('api-token', { token: SECRET, email: SECRET }).message, /"email" is not a valid email address/)
  t.match(rejectionOf('api-token', { token: SECRET, [SECRET + SECRET]: 'x' }).message, /unexpected field \(a 60-character name\)/)
  t.match(rejectionOf('oauth', { client_id: '', client_secret: SECRET }).message, /"client_id" must not be empty/)
})

t.test('a document that is not an object', async (t) => {
  t.match(rejectionOf('api-token', SECRET).message, /expected a JSON object, got a string/)
  t.match(rejectionOf('oauth', null).message, /got null/)
  t.match(rejectionOf('oauth', [SECRET]).message, /got an array/)
  t.match(rejectionOf('vault' as CredentialKind, {}).message, /unknown credential kind "vault"/)
})
