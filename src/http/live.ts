import type { FastifyReply, FastifyRequest } from 'fastify'
import type { AnyQuery } from '../core/messages.js'
import { coerce } from '../core/validation.js'
import type { Tandem } from '../app/tandem.js'
import { callerOf } from './handlers.js'

const heartbeatMs = 15_000

/**
 * A live query over Server-Sent Events: the answer first, then a new answer each time a projection
 * applies an event that touches one of the answer's cache tags.
 */
export function liveHandler(tandem: Tandem, definition: AnyQuery) {
  const policy = definition.cache
  if (!policy) throw new Error(`${definition.name} is live but has no cache tags to follow`)
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const caller = callerOf(tandem, request)
    const input = coerce(definition.input, request.query ?? {})
    const ask = () => tandem.queries.ask(definition, input, { caller, log: request.log })
    const first = await ask()
    if (first.status === 'failed') throw first.error

    void reply.hijack()
    const res = reply.raw
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-request-id': request.id,
    })
    // The bus's own tags for the answer: from the input as it accepted it (ids lower-cased).
    let tags = new Set(first.tags)
    let last = ''
    const send = (event: string, id: string, data: unknown) => {
      const text = JSON.stringify(data)
      if (event === 'answer' && text === last) return
      if (event === 'answer') last = text
      res.write(`id: ${id}\nevent: ${event}\ndata: ${text}\n\n`)
    }
    send('answer', first.readPosition, first.data)

    // One refresh at a time; invalidations while one runs fold into a single next one.
    let chain = Promise.resolve()
    let queued = false
    const refresh = () => {
      if (queued) return
      queued = true
      chain = chain
        .then(async () => {
          queued = false
          const next = await ask()
          if (next.status === 'failed') {
            send('problem', '0', {
              code: next.error.code,
              title: next.error.title,
              status: next.error.status,
            })
          } else {
            tags = new Set(next.tags)
            send('answer', next.readPosition, next.data)
          }
        })
        .catch(() => undefined)
    }
    const off = tandem.cache.onInvalidate((touched) => {
      if (touched.some((tag) => tags.has(tag))) refresh()
    })
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), heartbeatMs)
    request.raw.on('close', () => {
      off()
      clearInterval(heartbeat)
    })
  }
}
