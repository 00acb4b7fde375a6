import { pino } from 'pino'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { stopOnSignal } from './shutdown.js'

const log = pino({ level: 'silent' })

describe('stopping on a signal', () => {
  afterEach(() => vi.useRealTimers())

  /** A stop whose close ends when the test says, and the exit codes it asked for. */
  function stopping(withinMs: number | undefined) {
    const exits: number[] = []
    let finish: () => void = () => undefined
    let closes = 0
    const stop = stopOnSignal({
      close: () => {
        closes++
        return new Promise<void>((resolve) => (finish = resolve))
      },
      exit: (code) => void exits.push(code),
      log,
      withinMs,
    })
    return { stop, exits, finish: () => finish(), closes: () => closes }
  }

  it('closes once, then exits 0', async () => {
    const s = stopping(10_000)
    const stopped = s.stop('SIGTERM')
    void s.stop('SIGTERM')
    expect(s.closes()).toBe(1)
    s.finish()
    await stopped
    // The second signal came while it closed: with a bound, it is told to exit now.
    expect(s.exits).toEqual([1, 0])
  })

  it('exits 1 when its close has not finished in time (a store that stalls), and not before', async () => {
    vi.useFakeTimers()
    const s = stopping(10_000)
    void s.stop('SIGTERM')
    await vi.advanceTimersByTimeAsync(9_999)
    expect(s.exits).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    expect(s.exits).toEqual([1])
  })

  it('without a bound (embedded: PGlite in this process), waits for its close however long, and ignores a second signal', async () => {
    vi.useFakeTimers()
    const s = stopping(undefined)
    const stopped = s.stop('SIGINT')
    await vi.advanceTimersByTimeAsync(3_600_000)
    await s.stop('SIGINT')
    expect(s.exits).toEqual([])
    s.finish()
    await stopped
    expect(s.exits).toEqual([0])
  })

  it('exits 1 when its close fails', async () => {
    const exits: number[] = []
    const stop = stopOnSignal({
      close: () => Promise.reject(new Error('refused')),
      exit: (code) => void exits.push(code),
      log,
      withinMs: 10_000,
    })
    await stop('SIGTERM')
    expect(exits).toEqual([1])
  })
})
