import type { Socket } from 'node:net'
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify'
import { AppError, isAppError, shuttingDown, UnauthenticatedError, UnavailableError } from '../core/errors.js'
import { defaultAnonymousStreams } from '../app/config.js'
import type { Tandem } from '../app/tandem.js'
import { heldAnswerBudget, holdStreamed } from './connection.js'

/** The plumbing live queries share: an SSE response, and re-reading when the answer's tags are touched. */

const heartbeatMs = 15_000
/**
 * Bytes a stream may hold unsent, past what the socket took, for longer than `drainGraceMs`: a client
 * that stopped reading is cut off then (it may reconnect, with Last-Event-ID for an item stream)
 * instead of holding the process's memory for as long as it stays connected. A burst above it (a
 * resume sends up to ten pages of items at once) has the grace to drain, even to a slow client.
 */
export const maxUnsentBytes = 1024 * 1024
export const drainGraceMs = 10_000
/** Tags remembered from invalidations that come before the first answer's tags are known. */
const earlyTagLimit = 1000

/** The streams open on each HTTP server, so that closing it ends them: else its close waits for every client to leave. */
const openStreams = new WeakMap<object, Set<() => void>>()

/** Servers closing: a stream whose first answer waited (X-Min-Position) past the close is refused. */
const closing = new WeakSet<object>()

/** Ends every stream open on `server` (a Node HTTP server); their clients reconnect elsewhere. */
export function endEventStreams(server: object): void {
  closing.add(server)
  for (const end of openStreams.get(server) ?? []) end()
}

export interface EventStream {
  /** Writes one event (`data` is JSON text); without `id` the client's last event id stays as it was. */
  send(event: string, id: string | undefined, data: string): void
  /** Ends the stream (what was written is sent first). */
  end(): void
}

/**
 * The streams open on each connection, closed when it closes: one listener a connection, however
 * many streams are pipelined on it (one each made Node warn of a leak past ten). Gives back what
 * forgets `close`.
 */
const streamsOn = new WeakMap<object, Set<() => void>>()
function onClosed(socket: Pick<Socket, 'once'>, close: () => void): () => void {
  let closes = streamsOn.get(socket)
  if (!closes) {
    const all = new Set<() => void>()
    streamsOn.set(socket, all)
    socket.once('close', () => {
      for (const each of all) each()
    })
    closes = all
  }
  closes.add(close)
  const kept = closes
  return () => kept.delete(close)
}

/** The longest a timer waits (Node's): a token with longer left ends its stream then, reconnected. */
const longestTimerMs = 2 ** 31 - 1

/**
 * Takes the reply over and answers 200 with an event stream, kept alive until the client goes, or
 * until the token it was opened with expires (`tokenLeftMs`): then a `problem` event (401
 * UNAUTHENTICATED) ends it, and the client reconnects with a new token.
 */
export function openEventStream(
  request: FastifyRequest,
  reply: FastifyReply,
  onClose: () => void,
  tokenLeftMs?: number,
): EventStream {
  // Its first answer was read after the server began to close, or after the token expired (both
  // while it waited for X-Min-Position): opened, it held the stopping process up until its client
  // left, or sent data to a token no longer valid.
  const refused = closing.has(request.server.server)
    ? shuttingDown()
    : tokenLeftMs !== undefined && tokenLeftMs <= 0
      ? new UnauthenticatedError('The token has expired')
      : undefined
  if (refused) {
    onClose()
    throw refused
  }
  void reply.hijack()
  const res = reply.raw
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    'x-request-id': request.id,
  })
  // HEAD asks for the headers GET would send: a stream's would never end, holding a seat and the
  // requests pipelined behind it.
  if (request.method === 'HEAD') {
    res.end()
    onClose()
    return { send: () => undefined, end: () => undefined }
  }
  // Headers now: an item stream may have no event to send for a long while.
  res.flushHeaders()
  let open = true
  let draining: NodeJS.Timeout | undefined
  const server = request.server.server
  let ends = openStreams.get(server)
  if (!ends) openStreams.set(server, (ends = new Set()))
  const end = () => {
    res.end()
    close()
  }
  ends.add(end)
  const socket = request.raw.socket
  const budget = heldAnswerBudget(request.server.server)
  const held = budget === undefined ? () => undefined : holdStreamed(socket, budget, request.log)
  const drained = () => held(0)
  res.on('drain', drained)
  const close = () => {
    if (!open) return
    open = false
    held(0)
    forget()
    ends.delete(end)
    clearInterval(heartbeat)
    clearTimeout(draining)
    clearTimeout(expiring)
    onClose()
  }
  const write = (text: string) => {
    if (!open) return
    // Closed to keep the process's bound (connection.ts): its 'close' is still to come.
    if (res.destroyed) return close()
    res.write(text)
    held(res.writableLength)
    if (draining || res.writableLength <= maxUnsentBytes) return
    draining = setTimeout(() => {
      draining = undefined
      if (!open || res.writableLength <= maxUnsentBytes) return
      request.log.info({ unsentBytes: res.writableLength }, 'event stream closed: the client does not read')
      res.destroy()
      close()
    }, drainGraceMs)
  }
  const heartbeat = setInterval(() => write(': keep-alive\n\n'), heartbeatMs)
  const expiring =
    tokenLeftMs === undefined
      ? undefined
      : setTimeout(
          () => {
            write(
              `event: problem\ndata: ${problemText(new UnauthenticatedError('The token has expired'))}\n\n`,
            )
            res.end()
            close()
          },
          Math.max(0, Math.min(tokenLeftMs, longestTimerMs)),
        )
  // The client gone: the connection's 'close', or the answer's. Not the request's, which fires once
  // its body has been read (an empty chunked GET's, read before the route ran) with the client still
  // there: the stream sent nothing and held its connection, its seat given back. Nor the answer's
  // alone: one pipelined behind another stream waits unattached, and hears nothing when the
  // connection closes (its seat was kept for good).
  res.on('close', close)
  const forget = onClosed(socket, close)
  // A client gone while the first answer was read: 'close' has been and gone.
  if (res.destroyed || socket.destroyed) close()
  return {
    send(event, id, data) {
      write(`${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${data}\n\n`)
    },
    end: () => {
      if (open) end()
    },
  }
}

/** What a `problem` event carries. */
export function problemText(error: AppError): string {
  return JSON.stringify({ code: error.code, title: error.title, status: error.status })
}

export interface Follower {
  /** Follows `tags` (the first answer's); refreshes at once if one was touched while it was read. */
  start(tags: readonly string[]): void
  /** Follows the tags of a newer answer. */
  retag(tags: readonly string[]): void
  stop(): void
}

/**
 * Live streams one signed-in caller may keep open at once in a process. Callers without a token
 * share one bound, the process's (`LIVE_STREAMS_ANONYMOUS`, default 1,000): behind a proxy they share
 * its address, so a bound per address would shut them all out, and none at all let anyone hold every
 * socket the process may open.
 */
export const streamsPerHolder = 20

/** The seat count of callers without a token: no user id is empty. */
const anonymous = ''

/** Open streams by holder, per Tandem (a process may serve several in tests). */
const seatsOf = new WeakMap<Tandem, Map<string, number>>()

/** A seat for one more live stream of `caller` (undefined: one of the anonymous ones), or 429; the function gives it back (once). */
export function takeSeat(tandem: Tandem, caller: string | undefined): () => void {
  const holder = caller ?? anonymous
  const bound =
    caller === undefined ? (tandem.config.anonymousStreams ?? defaultAnonymousStreams) : streamsPerHolder
  let seats = seatsOf.get(tandem)
  if (!seats) seatsOf.set(tandem, (seats = new Map<string, number>()))
  const held = seats.get(holder) ?? 0
  if (held >= bound) {
    throw new AppError(
      429,
      'TOO_MANY_STREAMS',
      'Too many live streams',
      caller === undefined
        ? bound === 0
          ? 'Live streams without a token are off here (LIVE_STREAMS_ANONYMOUS=0): sign in'
          : `At most ${bound} live streams at once without a token; sign in, or close one first`
        : `At most ${bound} live streams at once per caller; close one first`,
    )
  }
  seats.set(holder, held + 1)
  let given = false
  return () => {
    if (given) return
    given = true
    const left = (seats.get(holder) ?? 1) - 1
    if (left > 0) seats.set(holder, left)
    else seats.delete(holder)
  }
}

/**
 * A refusal read while a stream's read models apply the log again from the start (the store lost
 * its data, or the process is still catching up): not the answer, which comes back as they catch
 * up. The stream sends nothing for it and waits for the next change (a 404 `EVENT_NOT_FOUND` ended
 * an event's stream; a 409 `PROFILE_REQUIRED` came on a reader's feed after a Redis flush). Read
 * models counted caught up are asked whether their stores still hold what was applied: a read that
 * met a store just flushed, before the loss was known here, was sent as the answer.
 */
export async function refusedWhileApplying(
  tandem: Tandem,
  readModels: readonly string[],
  error: AppError,
): Promise<boolean> {
  if (error.status >= 500) return false
  if (!tandem.projections.caughtUpNow(readModels)) return true
  return !(await tandem.projections.stillHeld(readModels))
}

/**
 * A stream's first read, made again every 50 ms while it is a refusal read as its read models are
 * applied again (`refusedWhileApplying`), until `maxWaitMs` (X-Max-Wait-Ms: 3 s by default) has
 * passed: a client reconnecting just after a Redis flush was refused (409 `PROFILE_REQUIRED`, 404)
 * and an EventSource does not reconnect after that. Still so then, the answer is 503
 * `READ_MODEL_LAGGING`, not the refusal, which the process knows it cannot trust. `refusalOf` finds
 * a refusal in an answer; one thrown is one too.
 */
export async function firstRead<T>(
  tandem: Tandem,
  readModels: readonly string[],
  maxWaitMs: number,
  read: () => Promise<T>,
  refusalOf: (value: T) => AppError | undefined = () => undefined,
): Promise<T> {
  const deadline = Date.now() + maxWaitMs
  /** Whether a refusal is one read while applying: again before the deadline, 503 at it. */
  const applying = async (error: AppError | undefined) => {
    if (error === undefined || !(await refusedWhileApplying(tandem, readModels, error))) return false
    if (Date.now() < deadline) return true
    throw new UnavailableError(
      'READ_MODEL_LAGGING',
      'Read model lagging',
      `The read model is applied again from the start and has not caught up within ${maxWaitMs} ms`,
    )
  }
  for (;;) {
    const value = await read().catch(async (error: unknown) => {
      if (isAppError(error) && (await applying(error))) return undefined
      throw error
    })
    if (value !== undefined && !(await applying(refusalOf(value)))) return value
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/**
 * Follows the cache's invalidations for a live stream of `holder`, the caller's id: runs `refresh`
 * each time one touches a followed tag, one at a time, invalidations while one runs folded into a
 * single next one. `refresh` gets the cache's epoch at the latest such invalidation, for its asks
 * (`freshAfter`): an answer begun before it, still being made, may not show the change. It listens
 * from the moment it is made, so that a change committed while the first answer is read is not
 * missed. Each stream re-reads its query on every change it follows: a caller may keep
 * `streamsPerHolder` open, then 429 TOO_MANY_STREAMS.
 */
export function follow(
  tandem: Tandem,
  refresh: (freshAfter: number) => Promise<void>,
  log: FastifyBaseLogger,
  holder: string | undefined,
): Follower {
  const giveBack = takeSeat(tandem, holder)
  let tags: ReadonlySet<string> | undefined
  const early = new Set<string>()
  let overflowed = false
  let chain = Promise.resolve()
  let queued = false
  /** The epoch of the latest invalidation that touched (or, before `start`, may have touched) the tags. */
  let touchedAt = 0
  const run = () => {
    if (queued) return
    queued = true
    chain = chain
      .then(async () => {
        queued = false
        await refresh(touchedAt)
      })
      .catch((error: unknown) => log.error({ err: error }, 'a live query failed to refresh'))
  }
  const off = tandem.cache.onInvalidate((touched) => {
    const followed = tags
    if (followed && touched !== 'all' && !touched.some((tag) => followed.has(tag))) return
    touchedAt = tandem.cache.epoch
    if (followed) run()
    else if (touched === 'all' || early.size + touched.length > earlyTagLimit) overflowed = true
    else for (const tag of touched) early.add(tag)
  })
  return {
    start(first) {
      const followed = new Set(first)
      tags = followed
      if (overflowed || [...early].some((tag) => followed.has(tag))) run()
      early.clear()
    },
    retag(next) {
      tags = new Set(next)
    },
    stop() {
      off()
      giveBack()
    },
  }
}
