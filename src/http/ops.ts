import type { FastifyInstance, FastifyRequest } from 'fastify'
import Type from 'typebox'
import { within } from '../core/bounded.js'
import {
  ForbiddenError,
  NotFoundError,
  UnauthenticatedError,
  UnavailableError,
  ValidationError,
} from '../core/errors.js'
import type { Tandem } from '../app/tandem.js'
import { callerOf, pointerToken, refuseQueryString } from './handlers.js'
import { problem } from './routes.js'

/**
 * How long /ready waits for the stores: one that holds its connection open and answers nothing (a
 * stalled server, a network that drops packets) is not ready, rather than a probe that never ends.
 */
export const readyWithinMs = 2000

/**
 * The management routes take no parameters: one sent is refused, as by a query, not ignored. The
 * probes (/health, /ready, /metrics) ignore theirs: a monitor may add one to defeat a cache.
 */
const takesNoParameters = 'is not read: this operation takes no input'

/** Health, readiness, metrics and the guide's management operations (stats, handlers, cache, rebuild). */
export function registerOps(app: FastifyInstance, tandem: Tandem): void {
  const started = Date.now()
  const ops = { tags: ['operations'] }
  const admin = { ...ops, security: [{ bearer: [] }] }
  const adminErrors = {
    // A body is not needed; one sent is read as a command's is.
    400: problem('VALIDATION_FAILED: a body that is not JSON'),
    401: problem('UNAUTHENTICATED: no token, or a bad or expired one'),
    403: problem('FORBIDDEN: the token lacks the admin role'),
    413: problem('PAYLOAD_TOO_LARGE: the body is over 1 MiB'),
    415: problem('UNSUPPORTED_MEDIA_TYPE: a body that is not application/json'),
  }

  const noParameters = problem('VALIDATION_FAILED: a query string (this operation takes none)')

  /** What stats and handlers answer, for the OpenAPI document: each object open, so a field added later is sent, not dropped. */
  const open = (properties: Record<string, unknown>, description?: string) => ({
    type: 'object',
    ...(description ? { description } : {}),
    properties,
    additionalProperties: true,
  })
  const count = { type: 'integer', minimum: 0 }
  const ms = { type: 'number', minimum: 0 }
  const position = { type: 'string', description: 'A log position, as a decimal string' }
  const handlerStats = {
    type: 'object',
    description: 'Per handler (`<domain>/<name>`), since this process started',
    additionalProperties: open({
      count,
      errors: { ...count, description: 'Failed with a 5xx' },
      refusals: { ...count, description: 'Refused with a 4xx' },
      avgMs: ms,
      p50Ms: ms,
      p95Ms: ms,
      p99Ms: ms,
      cacheHits: { ...count, description: 'Queries only' },
      cacheMisses: { ...count, description: 'Queries only' },
      cacheHitRate: { type: 'number', minimum: 0, maximum: 1, description: 'Queries only' },
    }),
  }
  const statsAnswer = open(
    {
      mode: { type: 'string', enum: ['embedded', 'server'] },
      roles: { type: 'array', items: { type: 'string', enum: ['command', 'query', 'projector'] } },
      uptimeSeconds: count,
      commands: handlerStats,
      queries: handlerStats,
      cache: open({ entries: count, bytes: count }, "This process's query cache"),
      streamMemory: open(
        { streams: count, recalled: count, absent: count, refused: count },
        'Streams whose state this process holds, and what commands found there since it started',
      ),
      groupCommit: open({ groups: count, transactions: count }, 'Commits sent together, since start'),
      timers: open({ pending: count, overdue: count }),
      projections: {
        type: 'array',
        items: open({
          name: { type: 'string' },
          store: { type: 'string', enum: ['kv', 'sql'] },
          version: count,
          generation: count,
          position,
          caughtUp: { type: 'boolean' },
          behind: count,
          appliedHere: { type: 'boolean' },
          rebuilding: open({ generation: count, position }),
        }),
      },
      processors: {
        type: 'array',
        items: open({
          name: { type: 'string' },
          version: count,
          startFrom: { type: 'string', enum: ['beginning', 'now'] },
          position: { anyOf: [position, { type: 'null' }], description: 'Null until it first runs' },
          behind: { anyOf: [count, { type: 'null' }], description: 'Null until it first runs' },
          runningHere: { type: 'boolean' },
          deadLetters: count,
        }),
      },
    },
    "This process's execution statistics",
  )
  const handlersAnswer = open(
    {
      commands: { type: 'array', items: { type: 'string' } },
      queries: { type: 'array', items: { type: 'string' } },
      projections: { type: 'array', items: { type: 'string' } },
    },
    'The commands and queries registered (`<domain>/<name>`), and the projections',
  )

  app.get('/health', { schema: { ...ops, summary: 'The process is up' } }, async () => ({ status: 'ok' }))

  app.get(
    '/ready',
    {
      schema: {
        ...ops,
        summary: 'Stores reachable and projections caught up',
        response: {
          200: {
            description:
              'Every store answers and every projection here has caught up with the log since the process started (`caughtUp`); later lag shows in `behind` and the lag metrics, not here',
            type: 'object',
            properties: {
              status: { type: 'string', enum: ['ready'] },
              projections: { type: 'array', items: { type: 'object', additionalProperties: true } },
            },
          },
          503: problem(
            `UNAVAILABLE: a store not reachable, or not answering within ${readyWithinMs} ms, or a projection still catching up`,
          ),
        },
      },
    },
    async () => {
      const probe = async () => {
        await tandem.sql.query('SELECT 1')
        if (tandem.readSql !== tandem.sql) await tandem.readSql.query('SELECT 1')
        // Read models are kept and read by projectors and query processes; a command process takes
        // its commands whatever becomes of Redis.
        if (tandem.roles.has('query') || tandem.roles.has('projector')) await tandem.kv.get('ready-probe')
      }
      await within(readyWithinMs, probe()).catch(() => {
        throw new UnavailableError('UNAVAILABLE', 'Not ready', 'A store is not reachable')
      })
      const projections = await within(readyWithinMs, tandem.projections.status()).catch(() => {
        throw new UnavailableError('UNAVAILABLE', 'Not ready', 'A store is not reachable')
      })
      const behind = projections.filter((p) => !p.caughtUp).map((p) => p.name)
      if (behind.length > 0)
        throw new UnavailableError('UNAVAILABLE', 'Not ready', `Still catching up: ${behind.join(', ')}`)
      return { status: 'ready', projections }
    },
  )

  app.get('/metrics', { schema: { ...ops, summary: 'Prometheus metrics' } }, async (_request, reply) => {
    void reply.type(tandem.metrics.registry.contentType)
    return tandem.metrics.registry.metrics()
  })

  app.get(
    '/api/cqrs/stats',
    {
      schema: {
        ...ops,
        summary: 'Execution statistics per handler, cache and projections',
        response: { 200: statsAnswer, 400: noParameters },
      },
    },
    async (request) => {
      refuseQueryString(request, takesNoParameters)
      const handlers = await tandem.metrics.handlerStats()
      return {
        mode: tandem.mode,
        roles: [...tandem.roles],
        uptimeSeconds: Math.round((Date.now() - started) / 1000),
        commands: handlers.command,
        queries: handlers.query,
        cache: { entries: tandem.cache.size, bytes: tandem.cache.bytes },
        streamMemory: { streams: tandem.streamMemory.size, ...(await tandem.metrics.recallStats()) },
        groupCommit: await tandem.metrics.groupStats(),
        timers: await tandem.timers.counts(),
        projections: await tandem.projections.status(),
        processors: await tandem.processors.status(),
      }
    },
  )

  app.get(
    '/api/cqrs/handlers',
    {
      schema: {
        ...ops,
        summary: 'Registered commands, queries and projections',
        response: { 200: handlersAnswer, 400: noParameters },
      },
    },
    async (request) => {
      refuseQueryString(request, takesNoParameters)
      return {
        commands: [...tandem.registry.commands.keys()],
        queries: [...tandem.registry.queries.keys()],
        projections: tandem.projections.names(),
      }
    },
  )

  /**
   * The admin's token, checked as the request arrives: before its body is read, so that a caller
   * without one learns that (401), not what is wrong with a body nobody would have looked at.
   */
  const requireAdmin = (
    request: Parameters<typeof callerOf>[1],
    _reply: unknown,
    done: (error?: Error) => void,
  ) => {
    const caller = callerOf(tandem, request)
    if (!caller) done(new UnauthenticatedError('Needs an admin token'))
    else if (!caller.roles.includes('admin')) done(new ForbiddenError('Needs the admin role'))
    else done()
  }

  /**
   * An admin operation takes no input: a query string or a body with fields is refused (400), not
   * ignored: `{"tags":["a"]}` answered 200 and cleared everything, the caller none the wiser.
   */
  const takesNothing = (request: FastifyRequest) => {
    refuseQueryString(request, takesNoParameters)
    // No body, or `{}`: `null` is a value, refused as a command refuses it.
    const body: unknown = request.body
    if (body === undefined) return
    const fields =
      typeof body === 'object' && body !== null && !Array.isArray(body) ? Object.keys(body) : undefined
    if (fields === undefined)
      throw new ValidationError([{ path: '', message: 'must be empty or {}: this operation takes no input' }])
    if (fields.length > 0)
      throw new ValidationError(
        fields.map((name) => ({
          path: `/${pointerToken(name)}`,
          message: 'is not read: this operation takes no input',
        })),
      )
  }

  app.post(
    '/api/cqrs/cache/clear',
    {
      onRequest: requireAdmin,
      schema: {
        ...admin,
        summary: 'Drop every cached query answer (admin)',
        response: {
          200: Type.Object(
            { cleared: Type.Integer({ description: 'Entries dropped in this process' }) },
            { description: 'Every process drops its cached answers; `cleared` counts those this one held' },
          ),
          ...adminErrors,
        },
      },
    },
    async (request) => {
      takesNothing(request)
      const entries = tandem.cache.size
      tandem.projections.clearCaches()
      return { cleared: entries }
    },
  )

  app.post(
    '/api/cqrs/projections/:name/rebuild',
    {
      onRequest: requireAdmin,
      schema: {
        ...admin,
        summary: 'Rebuild a projection beside the live one and switch when caught up (admin)',
        params: Type.Object({
          name: Type.String({
            description: 'A projection, as /api/cqrs/stats names it',
            examples: tandem.projections.names().slice(0, 1),
          }),
        }),
        response: {
          202: Type.Object(
            {
              projection: Type.String(),
              fromGeneration: Type.Integer({ description: 'The generation serving until the switch' }),
              status: Type.Literal('started'),
            },
            { description: 'Started: the rebuild runs on after this answer (see /api/cqrs/stats)' },
          ),
          ...adminErrors,
          404: problem('PROJECTION_NOT_FOUND: no projection by that name'),
          409: problem(
            'PROJECTION_NOT_APPLIED_HERE: this process does not apply it (send it to a projector); ' +
              'REBUILD_IN_PROGRESS: it is being rebuilt (see /api/cqrs/stats)',
          ),
        },
      },
    },
    async (request, reply) => {
      takesNothing(request)
      const { name } = request.params as { name: string }
      if (!tandem.projections.names().includes(name)) {
        throw new NotFoundError(
          'PROJECTION_NOT_FOUND',
          'No such projection',
          `Known: ${tandem.projections.names().join(', ')}`,
        )
      }
      // The rebuild runs on after this answer; what refuses it is known once it is claimed: applied
      // elsewhere (409 PROJECTION_NOT_APPLIED_HERE), or rebuilt here or in another process (409).
      const { generation, switched } = await tandem.projections.beginRebuild(name)
      switched.catch((error: unknown) => tandem.log.error({ err: error }, 'rebuild failed'))
      void reply.code(202)
      // The generation it replaces, as it stands once claimed: one switched meanwhile is not this one's.
      return { projection: name, fromGeneration: generation - 1, status: 'started' }
    },
  )

  const processorExample = tandem.processors.names()[0]?.split('/') ?? []
  app.post(
    '/api/cqrs/processors/:domain/:name/retry',
    {
      onRequest: requireAdmin,
      schema: {
        ...admin,
        summary: "Handle a processor's dead letters again, in log order; those handled are removed (admin)",
        params: Type.Object({
          domain: Type.String({ examples: processorExample.slice(0, 1) }),
          name: Type.String({
            description: 'A processor of the domain, as /api/cqrs/stats names it (domain/name)',
            examples: processorExample.slice(1),
          }),
        }),
        response: {
          200: Type.Object({
            processor: Type.String(),
            retried: Type.Integer({ description: 'Dead letters tried' }),
            handled: Type.Integer({ description: 'Handled now, and removed' }),
            parked: Type.Integer({ description: 'Failed again: still parked' }),
          }),
          ...adminErrors,
          404: problem('PROCESSOR_NOT_FOUND: no processor by that name'),
        },
      },
    },
    async (request) => {
      takesNothing(request)
      const { domain, name } = request.params as { domain: string; name: string }
      return tandem.processors.retry(`${domain}/${name}`)
    },
  )
}
