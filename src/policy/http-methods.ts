/**
 * The HTTP methods the broker proxies, in one place: the config schema accepts them in policy rules, the proxy
 * registers its routes for them, and the metrics label them (anything else is `OTHER`).
 */
export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const

export type HttpMethod = typeof HTTP_METHODS[number]

const KNOWN: ReadonlySet<string> = new Set(HTTP_METHODS)

export function isHttpMethod (method: string): method is HttpMethod {
  return KNOWN.has(method)
}
