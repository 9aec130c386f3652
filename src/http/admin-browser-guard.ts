/**
 * The admin listener trusts no browser. Reaching it is the credential (admin-auth's `trustedListener`), and a web page
 * open on the same machine reaches loopback too: a `no-cors` fetch or `navigator.sendBeacon` sends a POST without a
 * preflight, and DNS rebinding (a name the attacker controls, answered with 127.0.0.1) makes the page's own origin
 * point at the listener. So every request on it must name the listener in `Host` (its bound address, `localhost`, or
 * `callers.admin.allowedHosts`), and a request a browser marks as made for another origin (`Origin`,
 * `Sec-Fetch-Site`, Fetch Metadata: https://www.w3.org/TR/fetch-metadata/) is refused. Changes also need a JSON body
 * (admin-routes.ts), which no page can send cross-origin without a CORS preflight the broker never grants.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { AdminHostRefusedError, CrossOriginRefusedError } from '../errors.js'

/** What the listener is bound to (admin-listener.ts `AdminListen`), and the names a proxy forwards. */
export interface AdminHostsOptions {
  listen: { host: string, socket?: string | undefined }
  allowedHosts: readonly string[]
}

/** A Host value: a name, an IPv4 address or a bracketed IPv6 address, and an optional port. Nothing else (no userinfo,
 * no path), so parsing it below cannot be steered to another host. */
const HOST_VALUE = /^(?:\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::\d{1,5})?$/

/** The host names (no port) the listener answers to, lower case, IPv6 bracketed as in a Host header. */
export function adminHostNames (options: AdminHostsOptions): Set<string> {
  const names = new Set(['localhost', ...options.allowedHosts.map((name) => name.toLowerCase())])
  if (options.listen.socket === undefined) {
    const bound = options.listen.host.toLowerCase()
    names.add(bound.includes(':') ? `[${bound}]` : bound)
    // `localhost` may resolve to either loopback family.
    if (bound === 'localhost') { names.add('127.0.0.1'); names.add('[::1]') }
  }
  return names
}

/** `host[:port]` as a URL would write it, or undefined when it is not a plain host value. */
function normalHost (value: string): { host: string, hostname: string } | undefined {
  const lower = value.toLowerCase()
  if (!HOST_VALUE.test(lower)) return undefined
  try {
    const url = new URL(`http://${lower}`)
    return { host: url.host, hostname: url.hostname }
  } catch {
    return undefined
  }
}

/** Why a browser-made request is refused, or undefined when it may go on. */
function crossOriginReason (request: FastifyRequest, host: string): string | undefined {
  const site = request.headers['sec-fetch-site']
  // `same-site` is another origin too (another port on localhost, a sibling subdomain); `none` is the operator typing
  // the address or opening a bookmark.
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return `Sec-Fetch-Site: ${String(site).slice(0, 16)}`
  const origin = request.headers.origin
  if (origin === undefined) return undefined
  // "null" is an opaque origin: a sandboxed frame, a data: or file: page.
  let url: URL | undefined
  try { url = new URL(origin) } catch { url = undefined }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.host !== host) {
    return `Origin ${origin === 'null' ? 'null' : 'of another host'}`
  }
  return undefined
}

/** Adds the checks to the admin listener, ahead of every route (and of the 404 and 405 answers). */
export function refuseBrowserRequests (app: FastifyInstance, options: AdminHostsOptions): void {
  const names = adminHostNames(options)
  app.addHook('onRequest', (request, _reply, done) => {
    const given = request.headers.host ?? ''
    const host = normalHost(given)
    if (host === undefined || !names.has(host.hostname)) {
      done(new AdminHostRefusedError(JSON.stringify(given.slice(0, 64))))
      return
    }
    const reason = crossOriginReason(request, host.host)
    done(reason === undefined ? undefined : new CrossOriginRefusedError(reason))
  })
}

/** Every admin answer: never stored by a browser or proxy cache (it describes credentials), never sniffed as HTML. */
export function adminAnswerHeaders (app: FastifyInstance): void {
  app.addHook('onSend', (_request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (error: null, payload: unknown) => void) => {
    reply.header('cache-control', 'no-store').header('x-content-type-options', 'nosniff')
    done(null, payload)
  })
}
