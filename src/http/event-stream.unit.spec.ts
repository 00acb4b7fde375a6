import { EventEmitter } from 'node:events'
import { Writable } from 'node:stream'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { describe, expect, it } from 'vitest'
import { maxUnsentBytes, openEventStream } from './event-stream.js'

/** A response whose client reads nothing: every byte written stays unsent. */
function unreadResponse() {
  const res = new Writable({ write: () => undefined, highWaterMark: 1024 }) as Writable & {
    writeHead(): void
    flushHeaders(): void
  }
  res.writeHead = () => undefined
  res.flushHeaders = () => undefined
  return res
}

function open(res: Writable) {
  const raw = Object.assign(new EventEmitter(), { destroyed: false })
  const request = { id: 'r1', raw, log: { info: () => undefined } } as unknown as FastifyRequest
  const reply = { hijack: () => undefined, raw: res } as unknown as FastifyReply
  let closed = 0
  const stream = openEventStream(request, reply, () => closed++)
  return { stream, closed: () => closed, raw }
}

describe('an event stream whose client stopped reading', () => {
  it('is cut off once more than maxUnsentBytes wait, and told so once', () => {
    const res = unreadResponse()
    const { stream, closed } = open(res)
    const data = JSON.stringify({ text: 'x'.repeat(1000) })
    let sent = 0
    while (!res.destroyed && sent < maxUnsentBytes * 2) {
      stream.send('answer', String(sent), data)
      sent += data.length
    }
    expect(res.destroyed).toBe(true)
    // `sent` counts the data alone: each event's id and event lines come on top.
    expect(sent).toBeGreaterThan(maxUnsentBytes * 0.9)
    expect(sent).toBeLessThan(maxUnsentBytes + 2 * data.length)
    expect(closed()).toBe(1)
    // Nothing more is written to it.
    stream.send('answer', 'late', data)
    expect(closed()).toBe(1)
  })

  it('keeps a stream whose client reads', () => {
    const res = new Writable({ write: (_chunk, _encoding, done) => done() }) as Writable & {
      writeHead(): void
      flushHeaders(): void
    }
    res.writeHead = () => undefined
    res.flushHeaders = () => undefined
    const { stream, closed, raw } = open(res)
    for (let i = 0; i < 1000; i++) stream.send('answer', String(i), 'x'.repeat(1000))
    expect(res.destroyed).toBe(false)
    expect(closed()).toBe(0)
    raw.emit('close')
    expect(closed()).toBe(1)
  })
})
