import type { FastifyReply, FastifyRequest } from 'fastify'
import type { AnyQuery } from '../core/messages.js'
import { ValidationError } from '../core/errors.js'
import { coerce } from '../core/validation.js'
import type { Tandem } from '../app/tandem.js'
import { firstRead, follow, openEventStream, problemText, refusedWhileApplying } from './event-stream.js'
import { callerOf, consistencyOf, tokenLeftMs } from './handlers.js'
import { itemStreamHandler } from './live-items.js'

/**
 * A live query over Server-Sent Events. `live: true`: the answer first, then a new answer each time
 * a projection applies an event that touches one of the answer's cache tags. `live: { itemKey }`:
 * the items of a paged answer, one event each (live-items.ts).
 */
export function liveHandler(tandem: Tandem, definition: AnyQuery) {
  const policy = definition.cache
  if (!policy) throw new Error(`${definition.name} is live but has no cache tags to follow`)
  if (typeof definition.live === 'object') return itemStreamHandler(tandem, definition, definition.live)
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const caller = callerOf(tandem, request)
    if (definition.paged && (request.query as Record<string, unknown> | undefined)?.cursor !== undefined) {
      // A live page is the first: the one whose changes a client follows.
      throw new ValidationError([{ path: '/cursor', message: 'a stream shows the first page' }])
    }
    const input = coerce(definition.input, request.query ?? {})
    // X-Min-Position holds the first answer until the read models reached it, as for the query.
    const consistency = consistencyOf(request)
    const ask = (freshAfter?: number) =>
      tandem.queries.ask(definition, input, {
        caller,
        log: request.log,
        ...(freshAfter === undefined ? consistency : { freshAfter }),
      })
    let last = ''
    const send = (id: string, data: unknown) => {
      // The body the query answers over HTTP: `{ data }`, or a page, `{ data: [...], nextCursor }`
      // (it sent a single answer bare, unlike the body its description promised).
      const page = data as { items: unknown[]; nextCursor: string | null }
      const text = JSON.stringify(
        definition.paged ? { data: page.items, nextCursor: page.nextCursor } : { data },
      )
      if (text === last) return
      last = text
      stream.send('answer', id, text)
    }
    const follower = follow(
      tandem,
      async (freshAfter) => {
        const next = await ask(freshAfter)
        if (
          next.status === 'failed' &&
          (await refusedWhileApplying(tandem, definition.readModels, next.error))
        )
          return
        // No id: a problem must not move the client's Last-Event-ID (as on item streams). What the
        // stream follows gone (404) ends it: every later change would repeat the problem.
        if (next.status === 'failed') {
          stream.send('problem', undefined, problemText(next.error))
          if (next.error.status === 404) stream.end()
        } else {
          follower.retag(next.tags)
          send(next.readPosition, next.data)
        }
      },
      request.log,
      caller?.id,
    )
    const first = await firstRead(
      tandem,
      definition.readModels,
      consistency.maxWaitMs,
      () => ask(),
      (answer) => (answer.status === 'failed' ? answer.error : undefined),
    ).catch((error: unknown) => {
      follower.stop()
      throw error
    })
    if (first.status === 'failed') {
      follower.stop()
      throw first.error
    }
    const stream = openEventStream(request, reply, follower.stop, tokenLeftMs(tandem, request))
    send(first.readPosition, first.data)
    // The bus's own tags for the answer: from the input as it accepted it (ids lower-cased).
    follower.start(first.tags)
  }
}
