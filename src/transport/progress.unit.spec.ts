import { describe, expect, it } from 'vitest'
import { decodeFeed, encodeFeed, postgresFeed, tagLimit, type FeedMessage } from './progress.js'
import { createFollower } from '../projections/follower.js'
import { silentLogger } from '../core/logger.js'
import type { Sql } from '../core/sql.js'
import type { Listener } from './wake.js'

const progress: FeedMessage = {
  kind: 'progress',
  name: 'event-details',
  generation: 2,
  checkpoint: { txId: '981', position: '12' },
  horizon: '990',
  caughtUp: true,
}

describe('progress feed wire format', () => {
  it('round-trips every kind of message, in order, in one payload', () => {
    const messages: FeedMessage[] = [
      { kind: 'clear' },
      { kind: 'hello' },
      { kind: 'switched', name: 'event-details', generation: 3 },
      { kind: 'applied', name: 'event-details', generation: 2, tags: ['event:a', 'events:upcoming'] },
      progress,
    ]
    const payloads = encodeFeed(messages)
    expect(payloads).toHaveLength(1)
    expect(decodeFeed(payloads[0] ?? '')).toEqual(messages)
  })

  it('splits many tags over payloads PostgreSQL accepts, tags before the progress that covers them', () => {
    const tags = Array.from(
      { length: 2000 },
      (_, i) => `event:0190a0b1-7c2d-7e3f-8a4b-${String(i).padStart(12, '0')}`,
    )
    const payloads = encodeFeed([{ kind: 'applied', name: 'event-details', generation: 2, tags }, progress])
    expect(payloads.length).toBeGreaterThan(10)
    for (const payload of payloads) expect(Buffer.byteLength(payload)).toBeLessThan(7950)
    const decoded = payloads.flatMap((p) => decodeFeed(p) ?? [])
    expect(decoded.at(-1)).toEqual(progress)
    expect(decoded.flatMap((m) => (m.kind === 'applied' ? m.tags : []))).toEqual(tags)
  })

  it('sends a tag too long for any payload as a clear, which covers every tag', () => {
    const payloads = encodeFeed([{ kind: 'applied', name: 'p', generation: 1, tags: ['x'.repeat(9000)] }])
    expect(payloads.flatMap((p) => decodeFeed(p) ?? [])).toEqual([{ kind: 'clear' }])
  })

  it.each([
    ['not JSON', '{'],
    ['not a list', '{"c":1}'],
    ['an unknown kind', '[["z"]]'],
    ['a negative generation', '[["s","p",-1]]'],
    ['a position that is not a number', '[["p","p",1,"1","x","1",1]]'],
    ['tags that are not strings', '[["t","p",1,[1]]]'],
  ])('refuses %s', (_, payload) => {
    expect(decodeFeed(payload)).toBeUndefined()
  })
})

describe('progress feed', () => {
  /** A feed whose NOTIFYs are kept: each send's messages, decoded. */
  function recorded() {
    const sent: FeedMessage[][] = []
    const sql = {
      query: (_text: string, params: unknown[]) => {
        const payloads = params[2] as string[]
        // The sender's prefix is put in front by PostgreSQL (`$2 || p`): the payloads are the feed's own.
        sent.push(payloads.flatMap((p) => decodeFeed(p) ?? []))
        return Promise.resolve([])
      },
    } as unknown as Sql
    const listener: Listener = {
      on: () => {},
      onReconnect: () => {},
      start: async () => {},
      close: async () => {},
    }
    return { sent, feed: postgresFeed({ listener, sql, sender: 'me', log: silentLogger, coalesceMs: 1 }) }
  }
  const tagsOf = (n: number, prefix = 'timeline:') => Array.from({ length: n }, (_, i) => `${prefix}${i}`)

  it('publishes the tags a batch touched, then the progress', async () => {
    const { sent, feed } = recorded()
    feed.applied('feed-home', 1, tagsOf(3))
    feed.progress({
      ...progress,
      name: 'feed-home',
      generation: 1,
    })
    await feed.close()
    expect(sent.flat().map((m) => m.kind)).toEqual(['applied', 'progress'])
    expect(sent.flat()[0]).toMatchObject({ tags: tagsOf(3) })
  })

  it(`tells the receivers to clear their caches past ${tagLimit} tags, instead of sending each (a large fan-out)`, async () => {
    const { sent, feed } = recorded()
    feed.applied('feed-home', 1, tagsOf(tagLimit))
    feed.applied('feed-posts', 1, tagsOf(100_000, 'post:'))
    feed.progress({
      ...progress,
      name: 'feed-home',
      generation: 1,
    })
    await feed.close()
    expect(sent).toHaveLength(1)
    expect(sent.flat().map((m) => m.kind)).toEqual(['clear', 'progress'])
    // The next batch is sent tag by tag again.
    feed.applied('feed-home', 1, tagsOf(2))
    await feed.close()
    expect(sent.at(-1)).toEqual([{ kind: 'applied', name: 'feed-home', generation: 1, tags: tagsOf(2) }])
  })
})

describe('follower', () => {
  it('moves only forward and tells its listeners', () => {
    const follower = createFollower(1, { txId: '10', position: '5' })
    let heard = 0
    follower.onProgress(() => heard++)
    follower.advance({ checkpoint: { txId: '9', position: '7' } })
    expect(follower.checkpoint).toEqual({ txId: '10', position: '5' })
    expect(heard).toBe(0)
    follower.advance({ checkpoint: { txId: '12', position: '4' }, horizon: '11', caughtUp: true })
    expect(follower.checkpoint).toEqual({ txId: '12', position: '4' })
    expect(heard).toBe(1)
  })

  it('has applied what its checkpoint or horizon covers, and nothing of unknown transaction', () => {
    const follower = createFollower(1, { txId: '10', position: '5' })
    follower.advance({ checkpoint: { txId: '10', position: '5' }, horizon: '20' })
    expect(follower.hasApplied('5', '10')).toBe(true)
    expect(follower.hasApplied('9', '19')).toBe(true)
    expect(follower.hasApplied('9', '20')).toBe(false)
    expect(follower.hasApplied('9', undefined)).toBe(false)
  })
})
