import { EventEmitter } from 'node:events'
import { Writable } from 'node:stream'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { FastifyBaseLogger } from 'fastify'
import type { Tandem } from '../app/tandem.js'
import { createQueryCache } from '../core/cache.js'
import { drainGraceMs, follow, maxUnsentBytes, openEventStream, takeSeat } from './event-stream.js'

/** A response whose client takes each write only when `drain()` is called (never, for one that stopped). */
function clientResponse() {
  const taken: (() => void)[] = []
  const res = new Writable({
    highWaterMark: 1024,
    write: (_chunk, _encoding, done) => void taken.push(done),
  }) as Writable & { writeHead(): void; flushHeaders(): void }
  res.writeHead = () => undefined
  res.flushHeaders = () => undefined
  const drain = () => {
    while (taken.length > 0) taken.shift()?.()
  }
  return { res, drain }
}

function open(
  res: Writable,
  tokenLeftMs?: number,
  socket = Object.assign(new EventEmitter(), { destroyed: false }),
) {
  const raw = Object.assign(new EventEmitter(), { destroyed: false, socket })
  const request = {
    id: 'r1',
    raw,
    server: { server: {} },
    log: { info: () => undefined },
  } as unknown as FastifyRequest
  const reply = { hijack: () => undefined, raw: res } as unknown as FastifyReply
  let closed = 0
  const stream = openEventStream(request, reply, () => closed++, tokenLeftMs)
  return { stream, closed: () => closed, raw, socket }
}

/** Sends events of 1,000 characters until twice the bound waits unsent. */
function burst(stream: { send(event: string, id: string, data: string): void }, res: Writable) {
  const data = 'x'.repeat(1000)
  for (let i = 0; i < 5000 && res.writableLength <= 2 * maxUnsentBytes; i++)
    stream.send('item', String(i), data)
}

describe('an event stream past maxUnsentBytes unsent', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('is cut off when its client still has not taken it after the grace, and closed once', () => {
    const { res } = clientResponse()
    const { stream, closed } = open(res)
    burst(stream, res)
    expect(res.destroyed).toBe(false)
    vi.advanceTimersByTime(drainGraceMs - 1)
    expect(res.destroyed).toBe(false)
    vi.advanceTimersByTime(1)
    expect(res.destroyed).toBe(true)
    expect(closed()).toBe(1)
    stream.send('item', 'late', '{}')
    vi.advanceTimersByTime(drainGraceMs)
    expect(closed()).toBe(1)
  })

  it('stays open when its client takes the burst within the grace (a resume of ten pages)', () => {
    const { res, drain } = clientResponse()
    const { stream, closed, raw } = open(res)
    burst(stream, res)
    vi.advanceTimersByTime(drainGraceMs / 2)
    drain()
    vi.advanceTimersByTime(drainGraceMs)
    expect(res.destroyed).toBe(false)
    expect(closed()).toBe(0)
    // The request's body read to its end is not the client gone; the answer's close is.
    raw.emit('close')
    expect(closed()).toBe(0)
    res.emit('close')
    expect(closed()).toBe(1)
  })

  it("closes when its connection closes, though its answer hears nothing (one pipelined behind another's)", () => {
    const { res } = clientResponse()
    const { closed, socket } = open(res)
    socket.emit('close')
    expect(closed()).toBe(1)
    res.emit('close')
    expect(closed()).toBe(1)
  })

  it('listens once on a connection however many streams are pipelined on it, and closes them all', () => {
    const first = open(clientResponse().res)
    const others = Array.from({ length: 15 }, () => open(clientResponse().res, undefined, first.socket))
    expect(first.socket.listenerCount('close')).toBe(1)
    first.socket.emit('close')
    expect([first, ...others].map((s) => s.closed())).toEqual(Array.from({ length: 16 }, () => 1))
  })
})

/** A response whose client takes every write at once: what it was sent, as text. */
function readingResponse() {
  const sent = { text: '' }
  const res = new Writable({
    write: (chunk: Buffer, _encoding, done) => {
      sent.text += chunk.toString()
      done()
    },
  }) as Writable & { writeHead(): void; flushHeaders(): void }
  res.writeHead = () => undefined
  res.flushHeaders = () => undefined
  return { res, sent }
}

describe('an event stream opened with a token', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('ends when the token expires: a problem event (401), the response ended, closed once', () => {
    const { res, sent } = readingResponse()
    const { stream, closed } = open(res, 60_000)
    stream.send('item', 'a', '{}')
    vi.advanceTimersByTime(59_999)
    expect(res.writableEnded).toBe(false)
    vi.advanceTimersByTime(1)
    expect(res.writableEnded).toBe(true)
    expect(closed()).toBe(1)
    expect(sent.text.split('\n\n').filter((e) => e.startsWith('event: problem'))).toEqual([
      'event: problem\ndata: {"code":"UNAUTHENTICATED","title":"Authentication required","status":401}',
    ])
    stream.send('item', 'late', '{}')
    expect(sent.text).not.toContain('late')
  })

  it('stays open past any time without one', () => {
    const { res } = readingResponse()
    const { closed } = open(res)
    vi.advanceTimersByTime(40 * 24 * 3600_000)
    expect(res.writableEnded).toBe(false)
    expect(closed()).toBe(0)
  })
})

describe('following the cache for a live stream', () => {
  it('refreshes for the invalidations that touch its tags, with the epoch of the latest', async () => {
    const cache = createQueryCache()
    const refreshes: number[] = []
    const log = { error: () => undefined } as unknown as FastifyBaseLogger
    const follower = follow(
      { cache, config: {} } as unknown as Tandem,
      async (at) => void refreshes.push(at),
      log,
      undefined,
    )
    cache.invalidate(['other']) // while the first answer is read: not one of its tags
    follower.start(['t'])
    cache.invalidate(['u'])
    cache.invalidate(['t', 'u'])
    const touched = cache.epoch
    await new Promise((resolve) => setImmediate(resolve))
    cache.invalidate(['v'])
    cache.clear()
    await new Promise((resolve) => setImmediate(resolve))
    follower.stop()
    cache.invalidate(['t'])
    await new Promise((resolve) => setImmediate(resolve))
    expect(refreshes).toEqual([touched, cache.epoch - 1])
  })
})

describe('live streams without a token', () => {
  it('are said to be off where LIVE_STREAMS_ANONYMOUS is 0 (there is none to close), else bounded', () => {
    const tandem = (anonymousStreams: number) => ({ config: { anonymousStreams } }) as unknown as Tandem
    expect(() => takeSeat(tandem(0), undefined)).toThrow(
      expect.objectContaining({
        status: 429,
        detail: 'Live streams without a token are off here (LIVE_STREAMS_ANONYMOUS=0): sign in',
      }),
    )
    const one = tandem(1)
    const giveBack = takeSeat(one, undefined)
    expect(() => takeSeat(one, undefined)).toThrow(
      expect.objectContaining({
        detail: 'At most 1 live streams at once without a token; sign in, or close one first',
      }),
    )
    giveBack()
    expect(() => takeSeat(one, undefined)).not.toThrow()
  })
})
