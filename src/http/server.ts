import { SerializerSelector } from '@fastify/fast-json-stringify-compiler'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import Fastify, { LogController, type FastifyInstance, type FastifyReply } from 'fastify'
import { isUtf8 } from 'node:buffer'
import { randomUUID } from 'node:crypto'
import Type, { type TSchema } from 'typebox'
import { AppError, isAppError, shuttingDown, ValidationError } from '../core/errors.js'
import type { Tandem } from '../app/tandem.js'
import type { AnyCommand, Caller } from '../core/messages.js'
import {
  answeredPastFastify,
  clientErrorHandler,
  closeAfterAnswer,
  closesAfter,
  guardRequests,
  guardServer,
  unframedRequest,
} from './connection.js'
import { callerOf, commandHandler, queryHandler, reachedBus } from './handlers.js'
import { registerHome, serviceLinks } from './home.js'
import { limitsFromEnv, serverTimeouts, type HttpLimits } from './limits.js'
import { liveHandler } from './live.js'
import { endEventStreams, streamsPerHolder } from './event-stream.js'
import { maxItemPages, readPageSize } from './live-items.js'
import { answerUnrouted } from './methods.js'
import { registerOps } from './ops.js'
import { bodyLimit, Problem, problemOf, unsupportedMediaType } from './problem.js'
import { bodyProblems, tooComplex } from '../core/json-keys.js'
import { registerResourceRoutes } from './resource-routes.js'
import { describeRoutes, problem, queryHeaders } from './routes.js'

const requestIdPattern = /^[A-Za-z0-9._:-]{1,200}$/
/** RFC 9112: an HTTP/1.1 request names one Host (Node answers none with a bare 400 of its own). */
const noHost = new AppError(
  400,
  'MALFORMED_REQUEST',
  'Malformed request',
  'An HTTP/1.1 request names its Host',
)

/**
 * Headers read as one value, that a request may name once: Node keeps the first Host, Authorization
 * or Content-Type of two, where a proxy may keep the last, and joins two Idempotency-Keys into one.
 */
const namedOnce = new Set(['host', 'authorization', 'content-type', 'idempotency-key'])
function repeatedHeader(raw: readonly string[]): string | undefined {
  let seen: string[] | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const sent = raw[i] ?? ''
    // Lower-cased only at the lengths of those names (4, 12, 13, 15): most headers are not.
    if (sent.length !== 4 && (sent.length < 12 || sent.length > 15 || sent.length === 14)) continue
    const name = sent.toLowerCase()
    if (!namedOnce.has(name)) continue
    if (seen?.includes(name)) return name
    ;(seen ??= []).push(name)
  }
  return undefined
}
const repeated = (name: string) =>
  new AppError(400, 'MALFORMED_REQUEST', 'Malformed request', `The request names ${name} twice`)

/** Refusals a client may send again as they are, after a pause (`Retry-After`, in seconds). */
const retryAfterSeconds: Readonly<Record<string, number>> = {
  IDEMPOTENCY_IN_PROGRESS: 1,
  CONCURRENCY_CONFLICT: 1,
  READ_MODEL_LAGGING: 1,
  UNAVAILABLE: 1,
}

/** A request whose framing is not trusted (`judgeFraming`, connection.ts). */
const otherCoding = new AppError(
  501,
  'TRANSFER_CODING_NOT_SUPPORTED',
  'Transfer coding not supported',
  'A body is sent as is (Content-Length) or chunked, with no other transfer coding; the connection closes',
)

/** HTTP/1.0 and 1.1 are served; Node's parser also let through a request line without a version. */
const otherVersion = new AppError(
  505,
  'HTTP_VERSION_NOT_SUPPORTED',
  'HTTP version not supported',
  'This server speaks HTTP/1.1 (and 1.0)',
)

/**
 * The query string's %-escapes, decoded, are UTF-8. Fastify's parser keeps a value whose escapes are
 * not (`%FF`, `%ED%A0%80`, a lone surrogate's bytes, `%C0%80`) as its raw text, so `q=%FF` searched
 * for the text `%FF`, where a body with those bytes is a 400.
 */
const badQuery = new AppError(400, 'BAD_URL', 'Bad URL', 'The query string holds a malformed %-escape')
function decodableQuery(url: string | undefined): boolean {
  const at = url?.indexOf('?') ?? -1
  if (url === undefined || at < 0 || !url.includes('%', at)) return true
  try {
    decodeURIComponent(url.slice(at + 1))
    return true
  } catch {
    return false
  }
}

export const openapiInfo = {
  title: 'Tandem',
  version: '0.1.0',
  description:
    'A CQRS platform. Commands are `POST /api/commands/{domain}/{command}` with a JSON body ' +
    '(`Content-Type: application/json`); queries are `GET /api/queries/{domain}/{query}`. ' +
    'A command answers with the log position of its last event; send it back as `X-Min-Position` to read your own write. ' +
    'Errors are `application/problem+json` with a stable `code`.',
}

const itemStreamDescription =
  'An item stream: each item of the page as its own `item` event (`id` names the greatest item key sent: the key, or, where items carry a `position`, `[key, position, floor]`), oldest first, ' +
  'then each new item once as it arrives. Reconnecting with `Last-Event-ID` (or `lastEventId`) sends ' +
  `only the items it lacks (after its key; with positions, also those that committed late below it), reading at most ${maxItemPages} pages of ${readPageSize} back (a UUID in it may be in any ` +
  'case); an id that is empty, over 400 characters or holds control characters counts as none (the ' +
  `page again). More than ${maxItemPages * readPageSize} items arriving between two refreshes, or left past those pages on a reconnect: a \`problem\` event ITEMS_SKIPPED (read the pages to find the rest; on a reconnect it comes before the items). ` +
  'A failure later is a `problem` event; so is the token expiring (401), which ends the stream. `cursor` is refused (400).'
const lastEventIdHeader = Type.Object({
  'last-event-id': Type.Optional(Type.String({ description: 'The id of the last item received' })),
})
/** A live route's answers: the stream, or what its query refuses with before it starts, or 429. */
function streamResponses(queryResponses: unknown): Record<string, unknown> {
  const { 200: _answer, ...refusals } = queryResponses as Record<string, unknown>
  return {
    200: {
      description: 'The event stream',
      content: { 'text/event-stream': { schema: { type: 'string' } } },
    },
    ...refusals,
    429: problem(`TOO_MANY_STREAMS: the caller has ${streamsPerHolder} open already`),
  }
}

/**
 * The query's parameters but `cursor` (a stream starts at the newest items), and `lastEventId`, for
 * EventSource clients that cannot set headers.
 */
function withLastEventId(input: TSchema) {
  const lastEventId = Type.String({ description: 'As the `Last-Event-ID` header (which wins)' })
  const withoutIt = withoutCursor(input)
  return { ...withoutIt, properties: { ...withoutIt.properties, lastEventId } }
}

/**
 * A paged query's parameters but `cursor`: a live stream shows the first page (400 otherwise). The
 * query's own list of required ones kept: its parameters carry their examples (routes.ts), copies
 * that an object built again from them took for required (`status` and `limit` of the alerts' stream).
 */
function withoutCursor(input: TSchema): Parameters {
  const { properties, required, ...object } = input as Parameters
  const { cursor: _cursor, ...rest } = properties
  const left = (required ?? []).filter((name) => name !== 'cursor')
  return { ...object, properties: rest, ...(left.length > 0 ? { required: left } : {}) }
}

/** An object schema's parts these copies touch. */
type Parameters = TSchema & { properties: Record<string, TSchema>; required?: string[] }

/**
 * Fastify compiles the serializer of every response schema of every route as it starts: with five
 * domains, most of a server's start after loading modules. Here each is compiled when its route first
 * answers with that status (most routes' error statuses never do).
 */
const lazySerializers: ReturnType<typeof SerializerSelector> = (externalSchemas, options) => {
  const build = SerializerSelector()(externalSchemas, options)
  return (route) => {
    let serialize: ((data: unknown) => string) | undefined
    return (data) => (serialize ??= build(route))(data)
  }
}

/** Fastify with the OpenAPI plumbing, before any route. Validation is the buses' job, not Fastify's. */
async function baseApp(logger: Tandem['log'], limits: HttpLimits): Promise<FastifyInstance> {
  const timeouts = serverTimeouts(limits)
  const app = Fastify({
    loggerInstance: logger,
    ...timeouts,
    // Node answers an HTTP/1.1 request without Host with a bare 400 of its own: refused below instead.
    http: { ...timeouts.http, requireHostHeader: false },
    // The buses log each command and query; a line per request on top would double the logging cost.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit,
    clientErrorHandler,
    // Answered by the onRequest hook below, as problem+json: Fastify's own 503 has no code.
    return503OnClosing: false,
    // A path Fastify cannot decode (a malformed %-escape) is answered before any route or hook.
    frameworkErrors: (error, _request, reply) => {
      const body = problemOf(error)
      void (reply as unknown as FastifyReply).code(body.status).type('application/problem+json').send(body)
    },
    schemaController: { compilersFactory: { buildSerializer: lazySerializers } },
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && requestIdPattern.test(given) ? given : randomUUID()
    },
  }) as unknown as FastifyInstance
  app.setValidatorCompiler(() => () => true)
  // A command's body is JSON and nothing else: text/plain would reach the bus as a string.
  app.removeContentTypeParser('text/plain')
  parseJsonStrictly(app)
  app.addSchema(Problem)
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: openapiInfo,
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
    refResolver: {
      buildLocalReference: (json, _base, _fragment, i) =>
        typeof json.$id === 'string' ? json.$id : `def-${i}`,
    },
  })
  return app
}

/** What a body holding `__proto__` is told (secure-json-parse's refusal, which said "is not valid JSON"). */
const prototypeKey =
  'holds a __proto__ key, or a constructor key holding a prototype: refused, as either could change what an object inherits'

function isJson(text: string): boolean {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

/**
 * JSON bodies as Fastify parses them (its guards against `__proto__` and `constructor.prototype`
 * kept), but only as UTF-8: read as text, bytes that are not would become U+FFFD and be stored so. A
 * compressed body (Content-Encoding) is not read at all: 415, as for another media type. An object
 * naming a key twice, or a number JavaScript would round to a whole one, is a 400 (`bodyProblems`);
 * so is one nesting deeper than 64 levels or holding more than 10,000 values, found before it is
 * parsed (`tooComplex`).
 */
function parseJsonStrictly(app: FastifyInstance) {
  const parse = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    // No route takes it: the answer is the 404, whatever the body holds (read, not parsed).
    if (request.is404) {
      done(null, undefined)
      return
    }
    const coding = request.headers['content-encoding']
    if (coding !== undefined && coding.trim().toLowerCase() !== 'identity') {
      done(unsupportedMediaType('Send the body uncompressed'))
      return
    }
    const bytes = body as Buffer
    if (!isUtf8(bytes)) {
      done(new ValidationError([{ path: '', message: 'is not valid UTF-8' }]))
      return
    }
    const text = bytes.toString('utf8')
    const complex = tooComplex(text)
    if (complex !== undefined) {
      done(new ValidationError([{ path: '', message: complex }]))
      return
    }
    void parse(request, text, (error, value) => {
      // Refused though it is JSON: its parser found a prototype key (the error does not say).
      if (error && (error as { code?: string }).code === 'FST_ERR_CTP_INVALID_JSON_BODY' && isJson(text)) {
        done(new ValidationError([{ path: '', message: prototypeKey }]))
        return
      }
      const problems = error ? [] : bodyProblems(text)
      if (problems.length > 0) done(new ValidationError(problems))
      else done(error, value)
    })
  })
}

export interface ServerOptions {
  /** Defaults: `limitsFromEnv()`. */
  limits?: Partial<HttpLimits>
}

export async function buildServer(tandem: Tandem, options: ServerOptions = {}): Promise<FastifyInstance> {
  const limits = { ...limitsFromEnv(), ...options.limits }
  const app = await baseApp(tandem.log, limits)
  guardRequests(app, limits)
  guardServer(app.server, limits, tandem.log)
  const unrouted = answerUnrouted(app)
  app.setNotFoundHandler(unrouted)
  await app.register(swaggerUi, { routePrefix: '/docs' })
  // Made once: the same bytes for every asker, so answers held unread share them.
  let openapi: Buffer | undefined
  app.get('/openapi.json', { schema: { hide: true } }, async (_request, reply) => {
    openapi ??= Buffer.from(JSON.stringify(app.swagger()))
    return reply.type('application/json; charset=utf-8').send(openapi)
  })

  // Closing, the server answers what still comes on open connections 503 and ends its live streams:
  // its close waited for every stream's client to leave (a deploy, for the orchestrator's SIGKILL).
  let closing = false
  app.addHook('preClose', (done) => {
    closing = true
    endEventStreams(app.server)
    done()
  })
  // And closes each connection with its answer: the close waits for every connection to end, and a
  // client keeping its connection (a pool, a proxy) held a stopping process up to the keep-alive
  // timeout (76 s seen), or past the 10-s bound on shutdown, blamed on the stores.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) closeAfterAnswer(reply)
    done(null, payload)
  })
  // A callback hook: an async one costs every request a promise.
  app.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-request-id', request.id)
    const raw = request.raw
    // Where a request's body ends is not known: nothing more is served on the connection, whatever
    // this request is answered.
    if (closesAfter(raw)) closeAfterAnswer(reply)
    const twice = repeatedHeader(raw.rawHeaders)
    if (closing) done(shuttingDown())
    else if (unframedRequest(raw)) done(otherCoding)
    else if (raw.httpVersionMajor !== 1) done(otherVersion)
    else if (twice !== undefined) done(repeated(twice))
    else if (raw.headers.host === undefined && raw.httpVersionMinor === 1) done(noHost)
    else if (!decodableQuery(raw.url)) done(badQuery)
    else done()
  })
  /** Each command route's command: one refused before the bus (its body) is audited here. */
  const commandRoutes = new Map<string, AnyCommand>()
  app.setErrorHandler(async (error, request, reply) => {
    // Fastify refuses a QUERY without Content-Type (RFC 10008) before the not-found handler runs: no
    // route takes QUERY, so the answer is the 404 or 405 any other method gets.
    if (request.is404 && (error as { code?: string }).code === 'FST_ERR_ROUTE_MISSING_CONTENT_TYPE')
      return unrouted(request, reply)
    const body = problemOf(error)
    // A request cut while its body arrived (a stall or a request too slow answered 408 past Fastify,
    // a client gone): nobody reads this answer.
    const past = answeredPastFastify(request)
    const cut = past !== null
    if (body.status >= 500 && !isAppError(error)) request.log.error({ err: error }, 'request failed')
    else if (!isAppError(error) && !cut)
      request.log.info({ code: body.code, status: body.status }, 'request refused')
    const command = commandRoutes.get(request.routeOptions.url ?? '')
    // What the client was told is recorded: a stall its 408; a client gone mid-body was told nothing.
    const told = past === null ? body : past
    if (command && told && !reachedBus.has(request)) {
      let caller: Caller | undefined
      try {
        caller = callerOf(tandem, request)
      } catch {
        caller = undefined
      }
      const { status, code } = told
      await tandem.auditRefusal({ definition: command, caller, status, code, correlationId: request.id })
    }
    const retryAfter = retryAfterSeconds[body.code]
    if (retryAfter !== undefined) void reply.header('retry-after', String(retryAfter))
    return reply.code(body.status).type('application/problem+json').send(body)
  })

  const served: Record<string, string[]> = {}
  const serve = (domain: string, line: string) => (served[domain] ??= []).push(line)
  for (const route of describeRoutes(tandem.registry)) {
    if (!tandem.roles.has(route.kind)) continue
    serve(route.definition.domain, `${route.method} ${route.url}`)
    if (route.kind === 'command') {
      commandRoutes.set(route.url, route.definition)
      app.post(route.url, { schema: route.schema }, commandHandler(tandem, route.definition))
    } else {
      app.get(route.url, { schema: route.schema }, queryHandler(tandem, route.definition))
      if (route.definition.live) {
        const items = typeof route.definition.live === 'object'
        const parameters = (route.schema as { querystring: TSchema }).querystring
        serve(route.definition.domain, `GET ${route.url}/stream`)
        app.get(
          `${route.url}/stream`,
          {
            schema: {
              tags: [route.definition.domain],
              summary: `${route.definition.summary} (live, Server-Sent Events)`,
              description: items
                ? itemStreamDescription
                : 'An `answer` event now, then one each time the answer changes, its data the body the query answers (' +
                  (route.definition.paged
                    ? 'a page, `{ data, nextCursor }`, always the first: `cursor` is a 400'
                    : '`{ data }`, the same as GET without `/stream`') +
                  '). The token expiring ends the stream with a `problem` event (401), and so does what it ' +
                  'follows being deleted (404; not while its read model is applied again from the start).',
              // The query's parameters with their examples, as Swagger UI fills them in.
              querystring: items
                ? withLastEventId(parameters)
                : route.definition.paged
                  ? withoutCursor(parameters)
                  : parameters,
              headers: items
                ? Type.Object({ ...queryHeaders.properties, ...lastEventIdHeader.properties })
                : queryHeaders,
              ...(route.schema.security ? { security: route.schema.security as { bearer: string[] }[] } : {}),
              response: streamResponses(route.schema.response),
            },
          },
          liveHandler(tandem, route.definition),
        )
      }
    }
  }
  registerResourceRoutes(app, tandem, serve)
  registerOps(app, tandem)
  // The operations a link cannot reach (POST, admin): listed as the domains' routes are.
  for (const line of [
    'POST /api/cqrs/cache/clear',
    'POST /api/cqrs/projections/:name/rebuild',
    'POST /api/cqrs/processors/:domain/:name/retry',
  ])
    serve('operations (admin)', line)
  registerHome(app, () => ({ title: openapiInfo.title, links: serviceLinks, domains: served }))
  return app
}

/** The OpenAPI document the server publishes at /openapi.json. */
export async function openapiDocument(app: FastifyInstance): Promise<Record<string, unknown>> {
  await app.ready()
  return app.swagger() as unknown as Record<string, unknown>
}
