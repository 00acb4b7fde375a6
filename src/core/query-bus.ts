import type { Static, TSchema } from 'typebox'
import { NotFoundError, UnavailableError, isAppError, type AppError } from './errors.js'
import { silentLogger, type Logger } from './logger.js'
import type { AuditLog } from './audit.js'
import {
  callerKey,
  type AnyQuery,
  type Caller,
  type History,
  type QueryCachePolicy,
  type QueryDefinition,
} from './messages.js'
import type { Metrics } from './metrics.js'
import { compose, type Call, type Middleware, type Step } from './pipeline.js'
import { domainTags, readModelTag, type QueryCache } from './cache.js'
import type { ReadStores } from './read-stores.js'
import { noReplicas, type Replicas } from './replicas.js'
import type { Registry } from './registry.js'

export interface QueryCall extends Call {
  readonly kind: 'query'
  readonly definition: AnyQuery
  /** Read-your-writes: answer only once the read models have applied this log position. */
  readonly minPosition: bigint | undefined
  readonly maxWaitMs: number
  readonly useCache: boolean
  /** An answer begun after this invalidation (`QueryCache.epoch`) only: a live stream's refresh. */
  readonly freshAfter: number | undefined
}

export interface Answered {
  value: unknown
  cacheHit: boolean
  /** The log position the read models had applied when the answer was read. */
  readPosition: string
  /** The answer's cache tags, when the cache already knows them (a hit, or a miss it stored). */
  tags?: readonly string[]
}

/** The guide's QueryResult. Refusals are results; only bugs throw. */
export type QueryResult<R = unknown> =
  | {
      status: 'succeeded'
      data: R
      cacheHit: boolean
      readPosition: string
      executionTimeMs: number
      /** The cache tags of this answer, the domain's (none for a query without a cache policy). */
      tags: readonly string[]
    }
  | { status: 'failed'; error: AppError; executionTimeMs: number }

/** How far the read models have got: implemented by the projection runners. */
export interface ReadProgress {
  /**
   * Resolves true once every one of `readModels` has applied `position` (none: once the log holds
   * it), false after `timeoutMs`.
   */
  waitFor(readModels: readonly string[], position: bigint, timeoutMs: number): Promise<boolean>
  /** The position the read models have applied (the lowest among them), as a decimal string. */
  position(readModels: readonly string[]): string
  /**
   * The log's last committed position, read now: what a query that reads no read model (the write
   * model, the log, the audit log) and reads after it sees at least.
   */
  logHead(): Promise<string>
  /**
   * Whether the stores of `readModels` still hold what is counted as applied in them: false when a
   * read may have met a store emptied before its loss was known (a Redis flush), which is then
   * checked, or when a loss was heard of since `losses` was `since` (taken before the read's wait for
   * its position: the read may have met the emptied store, whatever was applied again by now).
   */
  stillHeld(readModels: readonly string[], since?: number): Promise<boolean>
  /** How many possible losses of a store this process has heard of (`stillHeld`'s `since`). */
  losses(): number
  /** The version of the read model's generation this process reads (undefined: not placed here). */
  versionOf(readModel: string): number | undefined
}

export interface AskOptions {
  caller?: Caller
  minPosition?: bigint
  maxWaitMs?: number
  useCache?: boolean
  /** Ask for an answer begun after this invalidation (`QueryCache.epoch`): never one made before it. */
  freshAfter?: number
  log?: Logger
}

export interface QueryBus {
  readonly registry: Registry
  ask<O extends TSchema>(
    query: QueryDefinition<TSchema, O>,
    input: unknown,
    options?: AskOptions,
  ): Promise<QueryResult<Static<O>>>
  ask(address: string, input: unknown, options?: AskOptions): Promise<QueryResult>
}

export interface QueryBusOptions {
  registry: Registry
  stores: ReadStores
  /** The event log (default: none, and a query that reads it fails). */
  history?: History
  /** The audit log (default: none, and a query that reads it fails). */
  auditLog?: AuditLog
  progress: ReadProgress
  /** The domains' own read models, opened in this process (default: none). */
  replicas?: Replicas
  /** Outermost first: logging, metrics, auth, validation, consistency, cache. */
  middleware: readonly Middleware<QueryCall, Answered>[]
}

export const defaultMaxWaitMs = 3000

const noLog = () => Promise.reject(new Error('This query bus was given no event log'))
const noHistory: History = { stream: noLog, at: noLog }
const noAuditLog: AuditLog = {
  read: () => Promise.reject(new Error('This query bus was given no audit log')),
}

export function createQueryBus(options: QueryBusOptions): QueryBus {
  const { stores, progress } = options
  const history = options.history ?? noHistory
  const auditLog = options.auditLog ?? noAuditLog
  const replicas = options.replicas ?? noReplicas
  const handle: Step<QueryCall, Answered> = async (call) => {
    const { readModels } = call.definition
    // Taken before the read: what it finds holds at least this. A query of the log itself answered
    // 0, and a client carrying it on to its next read went back to the log's beginning.
    const readPosition = readModels.length > 0 ? progress.position(readModels) : await progress.logHead()
    const ctx = {
      caller: call.caller,
      stores,
      history,
      auditLog,
      replica: (name: string) => replicas.get(call.definition.domain, name),
    }
    const value = await call.definition.handle(call.input, ctx)
    return { value, cacheHit: false, readPosition }
  }
  const pipeline = compose(options.middleware, handle)

  async function ask(target: string | AnyQuery, input: unknown, send: AskOptions = {}) {
    const start = performance.now()
    const took = () => Math.round((performance.now() - start) * 1000) / 1000
    const definition = typeof target === 'string' ? options.registry.queries.get(target) : target
    if (!definition) {
      const error = new NotFoundError(
        'QUERY_NOT_FOUND',
        'No such query',
        `No query is named ${typeof target === 'string' ? target : target.name}`,
      )
      return { status: 'failed' as const, error, executionTimeMs: took() }
    }
    try {
      const call: QueryCall = {
        kind: 'query',
        address: `${definition.domain}/${definition.name}`,
        definition,
        input,
        caller: send.caller,
        log: send.log ?? silentLogger,
        minPosition: send.minPosition,
        maxWaitMs: send.maxWaitMs ?? defaultMaxWaitMs,
        useCache: send.useCache ?? true,
        freshAfter: send.freshAfter,
      }
      const answer = await pipeline(call)
      return {
        status: 'succeeded' as const,
        data: answer.value,
        cacheHit: answer.cacheHit,
        readPosition: atLeast(answer.readPosition, call.minPosition),
        executionTimeMs: took(),
        // From the input as validation left it (canonical), as the cache keys the answer.
        tags: answer.tags ?? answerTags(call, answer.value),
      }
    } catch (error) {
      if (!isAppError(error)) throw error
      return { status: 'failed' as const, error, executionTimeMs: took() }
    }
  }

  return { registry: options.registry, ask }
}

/**
 * The position an answer is read at. One asked for a position (`X-Min-Position`) was read at it or
 * later: the read models tell a position applied by its transaction, and report the last event they
 * applied, which may come before it (an answer cached earlier holds what was read then, unchanged since).
 */
function atLeast(readPosition: string, minPosition: bigint | undefined): string {
  return minPosition !== undefined && BigInt(readPosition) < minPosition
    ? minPosition.toString()
    : readPosition
}

function lagging(call: QueryCall) {
  return new UnavailableError(
    'READ_MODEL_LAGGING',
    'Read model lagging',
    `The read model has not applied position ${call.minPosition} within ${call.maxWaitMs} ms`,
  )
}

/** Refuses a query whose read models are older versions than it reads (`readModelVersions`). */
export function requireVersions(progress: ReadProgress): Middleware<QueryCall, Answered> {
  return async (call, next) => {
    const needed = call.definition.readModelVersions
    if (needed)
      for (const [name, version] of Object.entries(needed)) {
        const live = progress.versionOf(name)
        if (live !== undefined && live < version)
          throw new UnavailableError(
            'READ_MODEL_LAGGING',
            'Read model lagging',
            `${name} is being rebuilt for this version (${version}; ${live} is live): try again shortly`,
          )
      }
    return next(call)
  }
}

/**
 * Read-your-writes: hold the query until its read models, and the replicas its input reads, have
 * applied the caller's position. The answer is one only if the stores still held what was counted as
 * applied when it was read: one that met a store just emptied (a Redis flush the process had not yet
 * heard of) would answer a refusal or an empty page for what the caller had written, so it is read
 * again once the read models have applied the position anew, or answered 503 at the deadline.
 */
export function waitForPosition(
  progress: ReadProgress,
  replicas: Replicas = noReplicas,
): Middleware<QueryCall, Answered> {
  return async (call, next) => {
    const { minPosition, definition } = call
    if (minPosition === undefined) return next(call)
    const deadline = Date.now() + call.maxWaitMs
    for (let waitMs = call.maxWaitMs; ; waitMs = Math.max(0, deadline - Date.now())) {
      // Counted before the wait: a loss heard of while the read models were awaited is one the read
      // may meet, its check not yet done (a query process hearing a flush while its reads waited).
      const losses = progress.losses()
      // A query that reads no read model waits for the position to be committed.
      const caughtUp = await progress.waitFor(definition.readModels, minPosition, waitMs)
      if (!caughtUp) throw lagging(call)
      for (const name of definition.replicas?.(call.input) ?? []) {
        const replica = replicas.get(definition.domain, name)
        if (replica && !(await replica.waitFor(minPosition.toString(), deadline))) throw lagging(call)
      }
      const read = await next(call).then(
        (answer) => ({ answer }),
        (error: unknown) => {
          if (isAppError(error) && error.status < 500) return { refusal: error }
          throw error
        },
      )
      if (await progress.stillHeld(definition.readModels, losses)) {
        if ('refusal' in read) throw read.refusal
        return read.answer
      }
      if (Date.now() >= deadline) throw lagging(call)
    }
  }
}

/**
 * Serves and stores answers in the query cache, keyed by query, input and (unless public) caller.
 *
 * A miss while the same answer is being made joins it instead of making it again (a hot page whose
 * tag was just dropped is asked many times before the first asker has it): the joiner gets what the
 * first computes (a refusal too), read at a position it reports. A joiner that asked for a position
 * (`X-Min-Position`) makes its own unless the joined answer was stored (no event touching it was
 * applied while it was made). One that asked
 * for an answer begun after an invalidation (a live stream refreshing because of it) makes its own
 * unless the joined answer was begun after it: one begun before may not show what was invalidated.
 */
export function cacheAnswers(cache: QueryCache, metrics?: Metrics): Middleware<QueryCall, Answered> {
  /** Answers being made, each with the cache's epoch when it was begun. */
  const making = new Map<string, { answer: Promise<Answered>; begun: number }>()
  return async (call, next) => {
    const policy = call.definition.cache
    if (!policy || !call.useCache) return next(call)
    const key = cacheKey(call)
    const hit = cache.get(key)
    metrics?.cache(call.address, hit !== undefined)
    // A hit answers the tags it was stored with: the same input, caller and answer give the same tags.
    if (hit) return { value: hit.value, readPosition: hit.readPosition, cacheHit: true, tags: hit.tags }
    const joined = making.get(key)
    if (joined && (call.freshAfter === undefined || joined.begun >= call.freshAfter)) {
      // What the first asker gets, refusals included.
      if (call.minPosition === undefined) return joined.answer
      // One bound to a position (applied by now: the wait comes before the cache) takes it only if it
      // was stored: it is not where an event touching it was applied while it was made, so it holds
      // every event applied by now, as a hit does. The position it was read at cannot tell: read models
      // apply in transaction order, and an event below that position may be applied after it.
      const answer = await joined.answer.catch(() => undefined)
      if (answer && cache.get(key)?.value === answer.value) return answer
    }
    // `fill` stamps the answer with this epoch as it begins.
    const begun = cache.epoch
    const made = cache
      .fill(key, async () => {
        const answer = await next(call)
        return {
          answer: { value: answer.value, readPosition: answer.readPosition },
          tags: answerTags(call, answer.value),
          ttlMs: ttlOf(policy, call.input, answer.value),
          cacheHit: answer.cacheHit,
        }
      })
      .then(({ answer, tags, cacheHit }) => ({ ...answer, cacheHit, tags }))
    making.set(key, { answer: made, begun })
    try {
      return await made
    } finally {
      if (making.get(key)?.answer === made) making.delete(key)
    }
  }
}

/** The address, the caller (none for a public query) and the input; JSON holds no raw U+0000. */
function cacheKey(call: QueryCall): string {
  const scope = call.definition.access.kind === 'public' || !call.caller ? '' : callerKey(call.caller)
  return `${call.address}\u0000${scope}\u0000${stableJson(call.input)}`
}

/** JSON with object keys sorted, so `{a,b}` and `{b,a}` share a cache entry. */
export function stableJson(value: unknown): string {
  if (value === undefined) return 'null'
  if (value === null || typeof value !== 'object') return JSON.stringify(value)
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`
  const record = value as Record<string, unknown>
  const keys = Object.keys(record)
    .filter((k) => record[k] !== undefined)
    .sort()
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stableJson(record[k])}`).join(',')}}`
}

/** How long an answer is kept: its policy's `ttlMs`, cut short where the answer's `until` comes first. */
function ttlOf(policy: QueryCachePolicy<unknown, unknown>, input: unknown, answer: unknown): number {
  const until = policy.until?.(input, answer)
  return until === undefined ? policy.ttlMs : Math.max(0, Math.min(policy.ttlMs, until - Date.now()))
}

/**
 * The cache tags an answer depends on, the query's domain's, and one per read model it read
 * (`readModelTag`): what the cache and live queries follow.
 */
function answerTags(call: QueryCall, answer: unknown): string[] {
  const policy = call.definition.cache
  if (!policy) return []
  const { domain, readModels } = call.definition
  return [
    ...domainTags(domain, policy.tags(call.input, answer, call.caller)),
    ...readModels.map(readModelTag),
  ]
}
