import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import Type from 'typebox'
import { isAppError, ValidationError } from '../core/errors.js'
import { addressOf } from '../core/messages.js'
import { coerce } from '../core/validation.js'
import type { Tandem } from '../app/tandem.js'
import type { ResourceOutcome, ResourceRoute } from '../kernel/domain.js'
import { cacheOf, callerOf, consistencyOf, idempotencyKeyOf, refuseQueryString } from './handlers.js'
import { commandErrors, commandHeaders, queryErrorsOf, queryHeaders } from './routes.js'

/**
 * The domains' resource-style routes (`Domain.routes`): each one a thin adapter that builds a
 * command's or a query's input from the request, sends it through the same bus as
 * /api/commands and /api/queries (auth, validation, idempotency, cache, metrics), and shapes the
 * answer as the route says. Refusals are problem+json, as everywhere.
 */
export function registerResourceRoutes(
  app: FastifyInstance,
  tandem: Tandem,
  serve: (domain: string, line: string) => void,
): void {
  for (const domain of tandem.domains) {
    for (const route of domain.routes ?? []) {
      if (!tandem.roles.has(route.message.kind)) continue
      serve(domain.name, `${route.method} ${route.path}`)
      app.route({
        method: route.method,
        url: route.path,
        schema: schemaOf(domain.name, route),
        handler: inRouteNames(route, handlerOf(tandem, route)),
      })
    }
  }
}

function schemaOf(domain: string, route: ResourceRoute): Record<string, unknown> {
  const { message } = route
  const names = [...route.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1] ?? '')
  const params = Object.fromEntries(names.map((name) => [name, Type.String()]))
  return {
    tags: [domain],
    summary: route.summary,
    description: `Sends the ${message.kind} \`${addressOf(message)}\`: ${message.summary}.`,
    operationId: `${domain}.${route.method.toLowerCase()}:${route.path}`,
    ...(message.access.kind === 'public' ? {} : { security: [{ bearer: [] }] }),
    ...(route.schema?.params
      ? { params: route.schema.params }
      : names.length > 0
        ? { params: Type.Object(params) }
        : {}),
    ...(route.schema?.querystring ? { querystring: route.schema.querystring } : {}),
    ...(route.schema?.body ? { body: route.schema.body } : {}),
    // The headers the native routes take, read here alike (handlerOf).
    headers: message.kind === 'command' ? commandHeaders : queryHeaders,
    response: {
      [route.status ?? 200]: route.schema?.answer ?? {},
      // As on the native routes: a command's refusals under their statuses, a query's own.
      ...(message.kind === 'command' ? commandErrors(message) : queryErrorsOf(message)),
    },
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** A handler whose validation failures name the fields as the route does (ResourceRoute.errorPath). */
function inRouteNames(
  route: ResourceRoute,
  handler: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>,
) {
  const rename = route.errorPath
  if (!rename) return handler
  return async (request: FastifyRequest, reply: FastifyReply) => {
    try {
      return await handler(request, reply)
    } catch (error) {
      if (!isAppError(error) || error.code !== 'VALIDATION_FAILED' || !error.errors) throw error
      throw new ValidationError(
        error.errors.map((e) => ({ ...e, path: rename(e.path) })),
        error.detail,
      )
    }
  }
}

function handlerOf(tandem: Tandem, route: ResourceRoute) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const caller = callerOf(tandem, request)
    const body = request.body === undefined ? {} : request.body
    if (!isObject(body)) throw new ValidationError([{ path: '', message: 'must be object' }])
    // A route that builds its input itself and declares no query string reads none.
    // Without a token, the bus's 401 comes first, as without the query string.
    if (route.input && !route.schema?.querystring && (caller || route.message.access.kind === 'public'))
      refuseQueryString(request, 'is not read by this route')
    const query = (request.query ?? {}) as Record<string, unknown>
    const params = (request.params ?? {}) as Record<string, string>
    const input = route.input ? route.input({ params, query, body }) : { ...query, ...body, ...params }
    let outcome: ResourceOutcome
    const { message } = route
    if (message.kind === 'command') {
      const idempotencyKey = idempotencyKeyOf(request)
      const done = await tandem.commands.execute(message, input, {
        caller,
        idempotencyKey,
        correlationId: request.id,
        log: request.log,
      })
      if (done.replayed) void reply.header('idempotent-replayed', 'true')
      if (done.status === 'failed') throw done.error
      const { result: data, executionTimeMs, position, commandId } = done
      outcome = { data, cacheHit: false, executionTimeMs, position, commandId }
    } else {
      const asked = await tandem.queries.ask(message, coerce(message.input, input), {
        caller,
        ...consistencyOf(request),
        ...cacheOf(request),
        log: request.log,
      })
      if (asked.status === 'failed') throw asked.error
      void reply.headers({
        'x-cache': asked.cacheHit ? 'hit' : 'miss',
        'x-read-position': asked.readPosition,
        'server-timing': `query;dur=${asked.executionTimeMs}`,
      })
      const { data, cacheHit, executionTimeMs, readPosition } = asked
      outcome = { data, cacheHit, executionTimeMs, position: readPosition, commandId: null }
    }
    void reply.code(route.status ?? 200)
    return route.answer ? route.answer(outcome) : outcome.data
  }
}
