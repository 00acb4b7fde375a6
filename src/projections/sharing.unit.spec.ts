import { describe, expect, it, vi } from 'vitest'
import { createQueryCache } from '../core/cache.js'
import { silentLogger } from '../core/logger.js'
import type { ProgressFeed } from '../transport/progress.js'
import type { Placed, Placements } from './placements.js'
import { shareProgress } from './sharing.js'

/** A projection this process only follows, whose catalog answers when `answer` is called. */
function followed(name: string) {
  let answer = () => {}
  const live = vi.fn(
    () =>
      new Promise<{ generation: number }>((resolve) => {
        answer = () => resolve({ generation: 1 })
      }),
  )
  const entry = {
    projection: { name },
    progress: { generation: 1 },
    catalog: { live },
    target: { checkpoint: async () => ({ position: '0' }) },
  } as unknown as Placed
  return { entry, live, answer: () => answer() }
}

const feed: ProgressFeed = {
  applied: () => {},
  progress: () => {},
  switched: () => {},
  clear: () => {},
  hello: () => {},
  subscribe: () => () => {},
  close: async () => {},
}

describe('following other processes (sharing.ts)', () => {
  it('stops with the check under way: reads no further store, and resolves once that check is over', async () => {
    const [first, second] = [followed('a'), followed('b')]
    const entries = [first.entry, second.entry]
    const placements = { all: () => entries, get: () => undefined } as unknown as Placements
    const log = { ...silentLogger, warn: vi.fn() }
    const sharing = shareProgress({ feed, placements, cache: createQueryCache(), log, retire: () => {} })
    const check = sharing.verify()
    expect(first.live).toHaveBeenCalledTimes(1)
    let stopped = false
    const stopping = sharing.stop().then(() => (stopped = true))
    await new Promise((resolve) => setTimeout(resolve, 10))
    // The stores close once stop resolves: not while a check still reads them.
    expect(stopped).toBe(false)
    first.answer()
    await Promise.all([check, stopping])
    expect(second.live).not.toHaveBeenCalled()
    expect(log.warn).not.toHaveBeenCalled()
  })
})
