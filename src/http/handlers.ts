import type { FastifyReply, FastifyRequest } from 'fastify'
import { UnauthenticatedError, ValidationError, type AppError } from '../core/errors.js'
import type { AnyCommand, AnyQuery, Caller } from '../core/messages.js'
import { defaultMaxWaitMs } from '../core/query-bus.js'
import { coerce } from '../core/validation.js'
import type { Tandem } from '../app/tandem.js'
import { callerFromHeader, lifeLeftOfHeader } from '../app/auth.js'

const maxWaitLimitMs = 10_000
/** Positions are PostgreSQL bigints. */
const maxPosition = 2n ** 63n - 1n

export function callerOf(tandem: Tandem, request: FastifyRequest): Caller | undefined {
  return callerFromHeader(tandem.auth, request.headers.authorization)
}

/** How long the token of a request whose caller `callerOf` gave has left (ms); undefined without one. */
export function tokenLeftMs(tandem: Tandem, request: FastifyRequest): number | undefined {
  return lifeLeftOfHeader(tandem.auth, request.headers.authorization)
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name]
  if (Array.isArray(value)) throw new ValidationError([{ path: `/headers/${name}`, message: 'is repeated' }])
  return value
}

/**
 * Refuses a request's query string, for a route that reads none (a command's, which reads its body):
 * a parameter there would be dropped unread, `?name=x` changing nothing while the client thinks it did.
 */
export function refuseQueryString(request: FastifyRequest, message: string): void {
  const names = Object.keys(request.query ?? {})
  if (names.length > 0)
    throw new ValidationError(names.map((name) => ({ path: `/query/${pointerToken(name)}`, message })))
}

/** A name as a JSON pointer's token (`a/b` is `a~1b`), as the body's fields are named. */
export const pointerToken = (name: string) => name.replaceAll('~', '~0').replaceAll('/', '~1')

/** Printable ASCII, as the Idempotency-Key's string is (a structured field's sf-string). */
const keyPattern = /^[\x20-\x7e]{1,255}$/

/**
 * The request's Idempotency-Key, checked: 1 to 255 printable ASCII characters, given once. Node reads
 * a header's bytes as Latin-1, so a key beyond ASCII was counted in bytes and stored garbled.
 */
export function idempotencyKeyOf(request: FastifyRequest): string | undefined {
  const key = header(request, 'idempotency-key')
  if (key !== undefined && !keyPattern.test(key))
    throw new ValidationError([
      { path: '/headers/idempotency-key', message: 'must be 1 to 255 printable ASCII characters' },
    ])
  return key
}

/** Requests whose command reached the bus, which records its outcome in the audit log itself. */
export const reachedBus = new WeakSet<FastifyRequest>()

export function commandHandler(tandem: Tandem, definition: AnyCommand) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    // A refused token is the command's answer, given by the bus, so the audit records it.
    let caller: Caller | undefined
    let refusedToken: AppError | undefined
    try {
      caller = callerOf(tandem, request)
    } catch (error) {
      if (!(error instanceof UnauthenticatedError)) throw error
      refusedToken = error
    }
    // Refused as input is, after the token: without a (good) one the bus answers 401 first.
    if (!refusedToken && (caller || definition.access.kind === 'public'))
      refuseQueryString(request, 'is not read: a command takes its input from the body')
    const idempotencyKey = idempotencyKeyOf(request)
    reachedBus.add(request)
    // No body is an empty input; a body of `null` is a value, refused as 5 or [1] are (not read as {}).
    const body = request.body === undefined ? {} : request.body
    const outcome = await tandem.commands.execute(definition, body, {
      caller,
      refusedToken,
      idempotencyKey,
      correlationId: request.id,
      log: request.log,
    })
    if (outcome.replayed) void reply.header('idempotent-replayed', 'true')
    if (outcome.status === 'failed') throw outcome.error
    return {
      commandId: outcome.commandId,
      status: outcome.status,
      position: outcome.position,
      executionTimeMs: outcome.executionTimeMs,
      result: outcome.result,
    }
  }
}

/** Reads X-Min-Position and X-Max-Wait-Ms, the read-your-writes headers. */
export function consistencyOf(request: FastifyRequest): { minPosition?: bigint; maxWaitMs: number } {
  const min = header(request, 'x-min-position')
  const wait = header(request, 'x-max-wait-ms')
  if (min !== undefined && (!/^[0-9]{1,19}$/.test(min) || BigInt(min) > maxPosition)) {
    throw new ValidationError([
      { path: '/headers/x-min-position', message: 'must be a log position (0 to 2^63-1)' },
    ])
  }
  const maxWaitMs = wait === undefined ? defaultMaxWaitMs : Number(wait)
  if (!/^[0-9]{1,5}$/.test(wait ?? '0') || maxWaitMs > maxWaitLimitMs) {
    throw new ValidationError([{ path: '/headers/x-max-wait-ms', message: `must be 0 to ${maxWaitLimitMs}` }])
  }
  return min === undefined ? { maxWaitMs } : { minPosition: BigInt(min), maxWaitMs }
}

/**
 * `Cache-Control: no-cache` reads the read models, not the query cache (the guide's `use_cache=False`);
 * what is read is not stored either.
 */
export function cacheOf(request: FastifyRequest): { useCache: boolean } {
  return { useCache: !/(?:^|,)\s*no-cache\s*(?:,|$)/i.test(header(request, 'cache-control') ?? '') }
}

export function queryHandler(tandem: Tandem, definition: AnyQuery) {
  // A cached answer is one object, given again on each hit: its body is serialized once, to bytes.
  // Sent as a string, each answer was encoded again into a buffer of its own by the socket's write:
  // a quarter of what a process serving cached feed pages allocated; a bare Fastify server sending a
  // 6 KB page used 7% less CPU an answer with bytes (docs/benchmarks/analysis.md).
  const bodies = new WeakMap<object, Buffer>()
  const cached = definition.cache !== undefined
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const caller = callerOf(tandem, request)
    const outcome = await tandem.queries.ask(definition, coerce(definition.input, request.query ?? {}), {
      caller,
      ...consistencyOf(request),
      ...cacheOf(request),
      log: request.log,
    })
    if (outcome.status === 'failed') throw outcome.error
    // Waited for a position (up to 10 s), the token may have expired meanwhile: nothing is shown to it.
    if (request.headers['x-min-position'] !== undefined && (tokenLeftMs(tandem, request) ?? 1) <= 0)
      throw new UnauthenticatedError('The token has expired')
    void reply.headers({
      'x-cache': outcome.cacheHit ? 'hit' : 'miss',
      'x-read-position': outcome.readPosition,
      'server-timing': `query;dur=${outcome.executionTimeMs}`,
    })
    const answer = outcome.data
    const shared = cached && typeof answer === 'object' && answer !== null
    let body = shared ? bodies.get(answer) : undefined
    if (body === undefined) {
      const page = answer as { items: unknown[]; nextCursor: string | null }
      // A route's JSON serializer gives a string.
      const text = reply.serialize(
        definition.paged ? { data: page.items, nextCursor: page.nextCursor } : { data: answer },
      ) as string
      if (!shared) return reply.type('application/json; charset=utf-8').send(text)
      body = Buffer.from(text)
      bodies.set(answer, body)
    }
    return reply.type('application/json; charset=utf-8').send(body)
  }
}
