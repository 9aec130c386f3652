/**
 * `ANY /proxy/{integration}/{path}?{query}`: the thin Fastify adapter around callers -> callAsCaller (policy,
 * admission, forwarder: src/upstream/caller-call.ts).
 * Bodies are not parsed here: every content type passes through as a stream.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Readable } from 'node:stream'
import fp from 'fastify-plugin'
import { integrationNamed } from '../config/integration-lookup.js'
import type { IntegrationConfig } from '../config/schema.js'
import { IntegrationNotFoundError, PathRejectedError } from '../errors.js'
import { HTTP_METHODS } from '../policy/http-methods.js'
import type { Admit } from '../limits/admission.js'
import type { Policy } from '../policy/policy.js'
import { checkRequestPath, splitTarget } from '../policy/request-path.js'
import { newProxyContext, type ProxyContext } from '../usage/proxied-call.js'
import { callAsCaller } from '../upstream/caller-call.js'
import { CallerGone } from '../upstream/caller-gone.js'
import type { Forwarder, ForwardResponse } from '../upstream/forwarder.js'
import { callerResponseHeaders } from '../upstream/headers.js'
import { refuseBodyOn } from '../upstream/prepared-body.js'

export interface ProxyPluginOptions {
  integrations: Readonly<Record<string, IntegrationConfig>>
  policy: Policy
  forwarder: Forwarder
  /** Admission control (per-caller limits, seats and queues, quota holds); throws a 429 error to refuse before anything
   * goes upstream. A promise only when the call waits in its caller's queue or fleet-wide limits must ask Redis first
   * (src/limits/admission.ts). */
  admit?: Admit | undefined
}

/** The answer's body once it is being sent, for the request's 'close' listener. */
interface SentBody { body: Readable | undefined }

declare module 'fastify' {
  interface FastifyRequest {
    proxy: ProxyContext | null
  }
}

/**
 * Writes the upstream answer straight to the caller's socket: status and headers in one writeHead (one header object,
 * built once), then the body piped as it comes. Fastify's send path (onSend hooks, its stream bookkeeping, a header
 * copy per name) is skipped with reply.hijack(); its onResponse hooks still run when the response finishes, so the
 * access line, usage and metrics see every call. A header Node refuses throws here, before the hijack, and takes
 * the usual error path.
 */
function sendUpstream (reply: FastifyReply, response: ForwardResponse, context: ProxyContext, sent: SentBody): void {
  const raw = reply.raw
  // writeHead merges what the onRequest hook set on the raw response (x-request-id), unless Atlassian's own header of
  // that name replaces it.
  raw.writeHead(response.statusCode, callerResponseHeaders(response.headers))
  reply.hijack()
  const body = response.body
  const declared = response.headers['content-length']
  if (typeof declared === 'string') context.bytesOut = Number(declared)
  else body.on('data', (chunk: Buffer) => { context.bytesOut += chunk.length })
  // An upstream reset tears the caller's response down; a caller going away destroys the upstream body (the handler's
  // one 'close' listener reads `sent.body`).
  body.once('error', () => { raw.destroy() })
  sent.body = body
  // A caller already gone has fired its 'close' before the body was known: free the upstream connection now.
  if (raw.destroyed) { body.destroy(); return }
  body.pipe(raw)
}

async function proxyPlugin (app: FastifyInstance, options: ProxyPluginOptions): Promise<void> {
  const { integrations } = options
  const pipeline = { policy: options.policy, forwarder: options.forwarder, admit: options.admit }
  app.decorateRequest('proxy', null)

  await app.register(async (scope) => {
    // Pass every body through unparsed (docs/style.md, "Proxying": stream bodies in both directions).
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser('*', (_request, _payload, done) => { done(null) })

    const handler = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
      const { path: rawPath, query } = splitTarget(request.raw.url ?? '/')
      // The router strips an absolute-form target ("GET http://host/proxy/...", RFC 9112 section 3.2.2) before matching;
      // reading the integration from such a target here would parse something else than what was routed.
      if (!rawPath.startsWith('/proxy/')) throw new PathRejectedError('the request target must be a path ("/proxy/..."), not an absolute URL')
      const afterPrefix = rawPath.slice('/proxy/'.length)
      const slash = afterPrefix.indexOf('/')
      const integration = slash === -1 ? afterPrefix : afterPrefix.slice(0, slash)
      const context = newProxyContext()
      request.proxy = context

      const config = integrationNamed(integrations, integration)
      // Known before authentication, so a 401 is still counted against the (configured) integration it aimed at.
      if (config !== undefined) context.integration = integration
      const caller = await app.authenticateCaller(request)
      if (config === undefined) throw new IntegrationNotFoundError(integration.slice(0, 64))

      const checked = checkRequestPath(slash === -1 ? '/' : afterPrefix.slice(slash), query)
      if (!checked.ok) throw new PathRejectedError(checked.reason)
      context.path = checked.value.path
      refuseBodyOn(request.method, request.headers)

      // Before admission: a call waiting in its caller's queue leaves it when the caller goes away.
      const callerGone = new CallerGone()
      // One listener per request for both ends: a queued or upstream call is given up, an answer's body destroyed.
      const sent: SentBody = { body: undefined }
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) callerGone.abort()
        if (sent.body !== undefined && !sent.body.readableEnded) sent.body.destroy()
      })
      const response = await callAsCaller(pipeline, {
        caller: caller.id,
        integration,
        config,
        method: request.method,
        path: checked.value.path,
        query: checked.value.query,
        incoming: request.raw,
        signal: callerGone,
        context
      })
      try {
        sendUpstream(reply, response, context, sent)
      } catch (error) {
        // Closing the body gives the seat and slots back (callAsCaller releases them on its 'close').
        response.body.destroy()
        throw error
      }
      return reply
    }

    scope.route({ method: [...HTTP_METHODS], url: '/proxy/:integration', handler })
    scope.route({ method: [...HTTP_METHODS], url: '/proxy/:integration/*', handler })
  })
}

export default fp(proxyPlugin, { name: 'broker-proxy', dependencies: ['broker-callers'] })
