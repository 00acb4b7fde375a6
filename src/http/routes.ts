import Type, { type TSchema } from 'typebox'
import type { AnyCommand, AnyQuery } from '../core/messages.js'
import type { Registry } from '../core/registry.js'

/**
 * The HTTP shape of every registered message, as API.md fixes it: commands are POST
 * /api/commands/<domain>/<name> with a JSON body, queries GET /api/queries/<domain>/<name>.
 * The same descriptions feed the server and the OpenAPI export.
 */
export type RouteSpec =
  | { kind: 'command'; method: 'POST'; url: string; definition: AnyCommand; schema: Record<string, unknown> }
  | { kind: 'query'; method: 'GET'; url: string; definition: AnyQuery; schema: Record<string, unknown> }

export const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: 'Problem#' } } },
})

/**
 * Headers an answer carries, as the OpenAPI document declares them (`headers` of a response schema:
 * the document's, which Fastify's serializer does not read).
 */
const header = (description: string, schema: Record<string, unknown> = { type: 'string' }) => ({
  ...schema,
  description,
})
const requestId = { 'x-request-id': header('The request’s id, as the server’s log names it') }
const retryAfter = {
  'retry-after': header('Seconds to wait before sending it again as it is', {
    type: 'string',
    pattern: '^[0-9]+$',
  }),
}
/** A refusal that a client may send again as it is, after `Retry-After`. */
const retried = (description: string) => ({ ...problem(description), headers: retryAfter })

const commandAnswerHeaders = {
  'idempotent-replayed': header('`true` on an answer replayed for an `Idempotency-Key` sent before', {
    type: 'string',
    enum: ['true'],
  }),
  ...requestId,
}
const queryAnswerHeaders = {
  'x-cache': header('Whether the answer came from the query cache', {
    type: 'string',
    enum: ['hit', 'miss'],
  }),
  'x-read-position': header(
    'The last log position the read models had applied when read (a query of the log itself: the log’s last then); at least X-Min-Position',
    { type: 'string', pattern: '^[0-9]+$' },
  ),
  'server-timing': header('`query;dur=<ms>`: the time the query took in the server'),
  ...requestId,
}

/**
 * What a command may answer besides its answer: the platform's refusals, which any command may meet,
 * and its own rules' under their statuses (`refusals`): a 404 only where it names a thing.
 */
export function commandErrors(definition: AnyCommand) {
  const { refusals, access } = definition
  const own = (codes: readonly string[] | undefined) => (codes?.length ? `; ${codes.join(', ')}` : '')
  const forbidden = access.kind === 'public' ? refusals[403] : ['FORBIDDEN', ...(refusals[403] ?? [])]
  return {
    400: problem(
      `VALIDATION_FAILED: bad JSON, wrong types, unknown fields, values out of range${own(refusals[400])}`,
    ),
    401: problem('UNAUTHENTICATED: no token, or a bad or expired one'),
    ...(forbidden?.length ? { 403: problem(`${forbidden.join(', ')}: the caller may not do this`) } : {}),
    ...(refusals[404]?.length
      ? {
          404: problem(
            `${refusals[404].join(', ')}: what the command names does not exist, or the caller may not see it`,
          ),
        }
      : {}),
    409: retried(
      (refusals[409]?.length ? `Refused by the rules: ${refusals[409].join(', ')}. ` : '') +
        'CONCURRENCY_CONFLICT: concurrent commands on the same rows made it fail five times (nothing ' +
        'was written; retry it). IDEMPOTENCY_IN_PROGRESS: a request with its Idempotency-Key is still ' +
        'running (retry: it replays that one’s answer). These two carry Retry-After',
    ),
    413: problem('PAYLOAD_TOO_LARGE: the body is over 1 MiB'),
    415: problem('UNSUPPORTED_MEDIA_TYPE: the body is not application/json'),
    422: problem('IDEMPOTENCY_KEY_REUSED: the key was used with another command or body'),
    503: retried('UNAVAILABLE: retry later; nothing was written'),
  }
}

const queryErrors = {
  400: problem('VALIDATION_FAILED: bad parameters'),
  401: problem('UNAUTHENTICATED'),
  403: problem('FORBIDDEN'),
  503: retried('READ_MODEL_LAGGING (X-Min-Position not reached in time) or UNAVAILABLE'),
}

export const commandHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 255,
      pattern: '^[\\x20-\\x7e]*$',
      description: 'Replays the first answer for the same body (printable ASCII)',
    }),
  ),
})

export const queryHeaders = Type.Object({
  'x-min-position': Type.Optional(
    Type.String({
      pattern: '^[0-9]{1,19}$',
      description: 'Answer only once this log position is applied (0 to 2^63-1)',
    }),
  ),
  'cache-control': Type.Optional(
    Type.String({
      description: '`no-cache`: read the read models, not the query cache (nor store what is read)',
    }),
  ),
  'x-max-wait-ms': Type.Optional(
    Type.String({
      pattern: '^(?:10000|[0-9]{1,4})$',
      description: 'How long to wait for X-Min-Position, in ms (default 3000, at most 10000)',
    }),
  ),
})

export function commandAnswer(result: TSchema) {
  return Type.Object({
    commandId: Type.String({ format: 'uuid' }),
    status: Type.Literal('succeeded'),
    position: Type.Union([
      Type.String({ description: 'Log position of the last event, decimal' }),
      Type.Null(),
    ]),
    executionTimeMs: Type.Number(),
    result,
  })
}

export function queryAnswer(definition: AnyQuery) {
  if (!definition.paged) return Type.Object({ data: definition.output })
  const items = (definition.output as unknown as { properties: { items: TSchema } }).properties.items
  return Type.Object({ data: items, nextCursor: Type.Union([Type.String(), Type.Null()]) })
}

/**
 * Public operations carry no security requirement: Swagger UI shows a lock on every operation that has
 * one, closed as soon as one requirement is met, and an empty one (`{}`) is always met.
 */
const security = (access: { kind: string }) =>
  access.kind === 'public' ? {} : { security: [{ bearer: [] }] }

function describeAccess(access: AnyCommand['access']): string {
  if (access.kind === 'public') return 'Public: a token is optional (Swagger UI sends none).'
  if (access.callers)
    return `Only ${access.callers.join(', ')} sends this (a token of another caller is 403).`
  return access.roles ? `Needs a token with one of the roles: ${access.roles.join(', ')}.` : 'Needs a token.'
}

export function describeRoutes(registry: Registry): RouteSpec[] {
  const routes: RouteSpec[] = []
  for (const definition of registry.commands.values()) {
    routes.push({
      kind: 'command',
      method: 'POST',
      url: `/api/commands/${definition.domain}/${definition.name}`,
      definition,
      schema: {
        tags: [definition.domain],
        summary: definition.summary,
        description: describe(definition),
        operationId: `${definition.domain}.${definition.name}`,
        ...security(definition.access),
        headers: commandHeaders,
        body: withExamples(definition),
        response: {
          200: { ...commandAnswer(definition.output), headers: commandAnswerHeaders },
          ...commandErrors(definition),
        },
      },
    })
  }
  for (const definition of registry.queries.values()) {
    const url = `/api/queries/${definition.domain}/${definition.name}`
    const base = {
      tags: [definition.domain],
      ...security(definition.access),
      headers: queryHeaders,
      querystring: withParameterExamples(definition),
    }
    routes.push({
      kind: 'query',
      method: 'GET',
      url,
      definition,
      schema: {
        ...base,
        summary: definition.summary,
        description: describe(definition),
        operationId: `${definition.domain}.${definition.name}`,
        response: {
          200: { ...queryAnswer(definition), headers: queryAnswerHeaders },
          ...queryErrorsOf(definition),
        },
      },
    })
  }
  return routes
}

/** What a query may answer besides its answer: a 404 or 409 only where it declares one. */
export function queryErrorsOf(definition: AnyQuery) {
  return {
    ...errorsOf(queryErrors, definition.access),
    ...(definition.notFound ? { 404: problem(definition.notFound) } : {}),
    ...(definition.conflict ? { 409: problem(definition.conflict) } : {}),
  }
}

/** The errors an operation may answer: a public one no 403 (a bad token is still 401). */
function errorsOf<E extends { 403: unknown }>(errors: E, access: AnyCommand['access']): Omit<E, 403> | E {
  if (access.kind !== 'public') return errors
  const { 403: _forbidden, ...rest } = errors
  return rest
}

/** An operation's description: the handler's own (what it does beyond its summary), who may call it, and the rest. */
function describe(definition: AnyCommand | AnyQuery, ...more: string[]): string {
  return [definition.description, describeAccess(definition.access), ...more].filter(Boolean).join(' ')
}

/** A command's body schema with its examples: the OpenAPI document shows each as a request example. */
function withExamples(definition: AnyCommand): TSchema {
  return definition.examples ? { ...definition.input, examples: definition.examples } : definition.input
}

/** A query's parameters, each with the values its examples give it (query parameters have no whole example). */
function withParameterExamples(definition: AnyQuery): TSchema {
  const input = definition.input as TSchema & { properties?: Record<string, TSchema> }
  if (!definition.examples || !input.properties) return input
  const examples = definition.examples as readonly Record<string, unknown>[]
  const properties = Object.fromEntries(
    Object.entries(input.properties).map(([name, property]) => {
      const values = [...new Set(examples.flatMap((e) => (e[name] === undefined ? [] : [e[name]])))]
      return [name, values.length > 0 ? { ...property, examples: values } : property]
    }),
  )
  return { ...input, properties }
}
