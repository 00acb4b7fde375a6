import type { TSchema } from 'typebox'
import Type from 'typebox'
import {
  ValidationError,
  type AnyCommand,
  type AnyQuery,
  type ResourceOutcome,
  type ResourceRequest,
  type ResourceRoute,
} from '../../kernel/index.js'
import { createSubject, generateSummary, updateStudyProgress, updateSubject } from './commands.js'
import { getStudyAnalytics } from './projections/analytics.js'
import { getStudyProgress, getSubjectDetail, getSubjects } from './projections/subject-queries.js'
import { getStudySummaries } from './projections/summaries.js'

/**
 * The guide's own API (StudyMate's `/api/cqrs/…`), as it documents it: resource paths with snake_case
 * bodies; queries answer `{ results, cache_hit, execution_time }` (seconds), commands
 * `{ status: "success", result, command_id, execution_time, position }`. Each route sends one of the
 * domain's commands or queries through the same buses; refusals are problem+json, their field paths
 * in the messages' own (camelCase) names.
 */

const snake = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
const camel = (key: string) => key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase())

/** A field path in the guide's names: snake_case, and a path parameter by its own name. */
function guidePath(params: Record<string, string>) {
  const byField = new Map(Object.entries(params).map(([param, field]) => [`/${field}`, `/${param}`]))
  return (path: string) => byField.get(path) ?? snake(path)
}

/** A value with every object key in snake_case, deep. */
export function snakeKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeKeys)
  if (typeof value !== 'object' || value === null) return value
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [snake(k), snakeKeys(v)]))
}

const snakeName = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/

/**
 * A body or query string with its top-level keys in camelCase, as the messages name them. Only the
 * guide's names are taken: a key in another form (`minutesStudied` beside `minutes_studied`, which
 * would win or lose by its place) or one the path gives is refused, naming it as sent.
 */
function camelKeys(value: Readonly<Record<string, unknown>>, params: Record<string, string>) {
  const fromPath = new Set(Object.values(params))
  const refused = Object.keys(value).filter((k) => !snakeName.test(k) || fromPath.has(camel(k)))
  if (refused.length > 0) {
    // At the root: a field path would be renamed as a message's field is.
    throw new ValidationError(
      refused.map((k) => ({
        path: '',
        message: fromPath.has(camel(k))
          ? `has ${JSON.stringify(k)}, which the path gives`
          : `has ${JSON.stringify(k)}, not a field of this path (its fields are snake_case)`,
      })),
    )
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [camel(k), v]))
}

/** The JSON schema of `snakeKeys` of a value of `schema`; `drop` leaves top-level properties out. */
export function snakeSchema(schema: TSchema, drop: readonly string[] = []): TSchema {
  const s = schema as Record<string, unknown> & {
    properties?: Record<string, TSchema>
    required?: string[]
    items?: TSchema
    anyOf?: TSchema[]
  }
  const out: Record<string, unknown> = { ...s }
  if (s.properties) {
    const kept = Object.entries(s.properties).filter(([k]) => !drop.includes(k))
    out.properties = Object.fromEntries(kept.map(([k, v]) => [snake(k), snakeSchema(v)]))
    if (s.required) out.required = s.required.filter((k) => !drop.includes(k)).map(snake)
  }
  if (s.items) out.items = snakeSchema(s.items)
  if (s.anyOf) out.anyOf = s.anyOf.map((m) => snakeSchema(m))
  return out
}

const seconds = (ms: number) => Math.round(ms * 1000) / 1_000_000

/**
 * The path's parameters as the message's fields they give (`id` is `subjectId`: a UUID), with the
 * first example's value, so a client generator types them and Swagger UI fills them in.
 */
function paramsSchema(message: AnyCommand | AnyQuery, params: Record<string, string>): TSchema | undefined {
  if (Object.keys(params).length === 0) return undefined
  const fields = (message.input as { properties?: Record<string, TSchema> }).properties ?? {}
  const example = (message.examples as readonly Record<string, unknown>[] | undefined)?.[0] ?? {}
  return Type.Object(
    Object.fromEntries(
      Object.entries(params).map(([param, field]) => {
        const schema = fields[field] ?? Type.String()
        return [param, example[field] === undefined ? schema : { ...schema, examples: [example[field]] }]
      }),
    ),
  )
}

const optional = <K extends string, V>(key: K, value: V | undefined) =>
  (value === undefined ? {} : { [key]: value }) as Partial<Record<K, V>>

/** The message's examples in the guide's names, without what the path gives: a body's examples. */
function bodyExamples(message: AnyCommand, params: Record<string, string>): unknown[] | undefined {
  const fromPath = new Set(Object.values(params))
  return (message.examples as readonly Record<string, unknown>[] | undefined)?.map((example) =>
    snakeKeys(Object.fromEntries(Object.entries(example).filter(([k]) => !fromPath.has(k)))),
  )
}

type Page = { items: unknown[]; nextCursor: string | null }

function queryRoute(
  path: string,
  summary: string,
  message: AnyQuery,
  options: {
    params?: Record<string, string>
    /** The answer's fields besides cache_hit and execution_time (default: `results`, and `next_cursor` on lists). */
    results?: (data: unknown) => Record<string, unknown>
    resultsSchema?: Record<string, TSchema>
  } = {},
): ResourceRoute {
  const params = options.params ?? {}
  const fromParams = Object.values(params)
  const results =
    options.results ??
    (message.paged
      ? (data: unknown) => ({ results: (data as Page).items, next_cursor: (data as Page).nextCursor })
      : (data: unknown) => ({ results: data }))
  const output = message.output as TSchema & { properties: Record<string, TSchema> }
  const resultsSchema: Record<string, TSchema> =
    options.resultsSchema ??
    (message.paged
      ? {
          results: output.properties.items ?? Type.Array(Type.Unknown()),
          nextCursor: Type.Union([Type.String(), Type.Null()]),
        }
      : { results: message.output })
  return {
    method: 'GET',
    path,
    summary,
    message,
    errorPath: guidePath(params),
    input: ({ params: given, query }: ResourceRequest) => ({
      ...camelKeys(query, params),
      ...Object.fromEntries(Object.entries(params).map(([from, to]) => [to, given[from]])),
    }),
    answer: ({ data, cacheHit, executionTimeMs }: ResourceOutcome) => ({
      ...(snakeKeys(results(data)) as Record<string, unknown>),
      cache_hit: cacheHit,
      execution_time: seconds(executionTimeMs),
    }),
    schema: {
      ...optional('params', paramsSchema(message, params)),
      querystring: snakeSchema(message.input, fromParams),
      answer: snakeSchema(
        Type.Object({
          ...resultsSchema,
          cacheHit: Type.Boolean(),
          executionTime: Type.Number({ description: 'Seconds' }),
        }),
      ),
    },
  }
}

function commandRoute(
  method: 'POST' | 'PUT',
  path: string,
  summary: string,
  message: AnyCommand,
  options: { params?: Record<string, string>; status?: number } = {},
): ResourceRoute {
  const params = options.params ?? {}
  return {
    method,
    path,
    summary,
    message,
    status: options.status ?? 200,
    errorPath: guidePath(params),
    input: ({ params: given, body }: ResourceRequest) => ({
      ...camelKeys(body as Record<string, unknown>, params),
      ...Object.fromEntries(Object.entries(params).map(([from, to]) => [to, given[from]])),
    }),
    answer: ({ data, executionTimeMs, position, commandId }: ResourceOutcome) => ({
      status: 'success',
      result: snakeKeys(data),
      command_id: commandId,
      execution_time: seconds(executionTimeMs),
      position,
    }),
    schema: {
      ...optional('params', paramsSchema(message, params)),
      body: {
        ...snakeSchema(message.input, Object.values(params)),
        ...optional('examples', bodyExamples(message, params)),
      },
      answer: Type.Object({
        status: Type.Literal('success'),
        result: snakeSchema(message.output),
        command_id: Type.String({ format: 'uuid' }),
        execution_time: Type.Number({ description: 'Seconds' }),
        position: Type.Union([Type.String(), Type.Null()]),
      }),
    },
  }
}

const id = { id: 'subjectId' }

export const guideRoutes: readonly ResourceRoute[] = [
  queryRoute('/api/cqrs/subjects/', 'Subjects (the guide’s list)', getSubjects),
  commandRoute('POST', '/api/cqrs/subjects/', 'Create a subject (the guide’s path)', createSubject, {
    status: 201,
  }),
  queryRoute('/api/cqrs/subjects/:id/', 'A subject’s detail (the guide’s path)', getSubjectDetail, {
    params: id,
  }),
  commandRoute('PUT', '/api/cqrs/subjects/:id/', 'Change a subject (the guide’s path)', updateSubject, {
    params: id,
  }),
  commandRoute(
    'POST',
    '/api/cqrs/subjects/:id/generate_summary/',
    'Ask for a summary: pending at once (the guide’s path)',
    generateSummary,
    { params: id, status: 202 },
  ),
  queryRoute('/api/cqrs/study-summaries/', 'Summaries (the guide’s list)', getStudySummaries),
  queryRoute('/api/cqrs/study-progress/', 'Progress (the guide’s path)', getStudyProgress, {
    results: (data) => {
      const { items, totalMinutes } = data as { items: unknown[]; totalMinutes: number }
      return { results: items, totalMinutes }
    },
    resultsSchema: {
      results: (getStudyProgress.output as TSchema & { properties: { items: TSchema } }).properties.items,
      totalMinutes: Type.Integer(),
    },
  }),
  commandRoute(
    'POST',
    '/api/cqrs/study-progress/update_progress/',
    'Record study progress (the guide’s path)',
    updateStudyProgress,
  ),
  queryRoute('/api/cqrs/study-analytics/', 'Analytics (the guide’s path)', getStudyAnalytics),
]
