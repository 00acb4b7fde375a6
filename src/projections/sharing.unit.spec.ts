import { describe, expect, it, vi } from 'vitest'
import { createQueryCache } from '../core/cache.js'
import { silentLogger } from '../core/logger.js'
import type { FeedMessage, Progress, ProgressFeed } from '../transport/progress.js'
import { createFollower } from './follower.js'
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
    const sharing = shareProgress({
      feed,
      placements,
      cache: createQueryCache(),
      log,
      retire: () => {},
      applies: () => false,
      olderVersion: () => {},
    })
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

describe('switching to a generation another process rebuilt', () => {
  it("is caught up at once, and takes the new generation's report sent before the switch was made: asked again", async () => {
    const projection = { name: 'a', version: 1 }
    const target = { checkpoint: async () => ({ txId: '90', position: '90' }) }
    const placed = (): Placed =>
      ({
        projection,
        progress: undefined,
        follower: undefined,
        target,
        catalog: { live: async () => ({ generation: 2, version: 1 }) },
        reader: undefined,
      }) as unknown as Placed
    const first = placed()
    first.follower = createFollower(1, { txId: '80', position: '80' })
    first.progress = first.follower
    const entries = new Map([['a', first]])
    let served = () => {}
    let caughtUpWhenServed: boolean | undefined
    const placements = {
      all: () => [...entries.values()],
      get: (name: string) => entries.get(name),
      // The switch takes a moment (the store's checkpoint is read): reports come meanwhile.
      async serve(_projection: unknown, generation: number, _how: unknown, options?: { caughtUp?: boolean }) {
        await new Promise<void>((resolve) => (served = resolve))
        const entry = placed()
        entry.follower = createFollower(generation, await target.checkpoint(), options?.caughtUp)
        entry.progress = entry.follower
        caughtUpWhenServed = entry.follower.caughtUp
        entries.set('a', entry)
        return entry
      },
    } as unknown as Placements
    // The projector's feed: its latest report of each projection, sent again to a hello.
    const caughtUp: Progress = {
      name: 'a',
      generation: 2,
      checkpoint: { txId: '90', position: '90' },
      horizon: '120',
      caughtUp: true,
    }
    let deliver: (message: FeedMessage) => void = () => {}
    const feed: ProgressFeed = {
      applied: () => {},
      progress: () => {},
      switched: () => {},
      clear: () => {},
      hello: vi.fn(() => deliver({ kind: 'progress', ...caughtUp })),
      subscribe(handler) {
        deliver = handler
        return () => {}
      },
      close: async () => {},
    }
    const sharing = shareProgress({
      feed,
      placements,
      cache: createQueryCache(),
      log: silentLogger,
      retire: () => {},
      applies: () => false,
      olderVersion: () => {},
    })
    deliver({ kind: 'switched', name: 'a', generation: 2 })
    const switching = first.switching
    deliver({ kind: 'progress', ...caughtUp })
    await new Promise((resolve) => setTimeout(resolve, 0))
    served()
    await switching
    // Caught up from the switch on, before any report (a rebuild switches once caught up): /ready
    // stays 200 through it.
    expect(caughtUpWhenServed).toBe(true)
    const now = entries.get('a')?.progress
    expect(now?.generation).toBe(2)
    expect(now?.caughtUp).toBe(true)
    // Below the horizon, an event of another projection's types counts as applied (X-Min-Position).
    expect(now?.hasApplied('110', '110')).toBe(true)
    await sharing.stop()
  })
})
