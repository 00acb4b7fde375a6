import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createQueryCache, weigh, type QueryCache } from './cache.js'

const answer = (value: unknown, readPosition = '7') => ({ value, readPosition })

/** Stores `value` under `key` with a stamp taken just before, as the cache middleware does. */
function put(cache: QueryCache, key: string, tags: readonly string[] = [], ttlMs = 60_000) {
  cache.set(key, answer(key), { tags, ttlMs, stamp: cache.stamp() })
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] })
  vi.setSystemTime(new Date('2031-01-01T00:00:00.000Z'))
})
afterEach(() => {
  vi.useRealTimers()
})

describe('query cache', () => {
  it('answers what was stored under a key, and nothing for another key', () => {
    const cache = createQueryCache()
    cache.set('q1', answer({ n: 1 }, '42'), { tags: [], ttlMs: 1000, stamp: cache.stamp() })
    expect(cache.get('q1')).toMatchObject({ value: { n: 1 }, readPosition: '42' })
    expect(cache.get('q2')).toBeUndefined()
    expect(cache.size).toBe(1)
  })

  it('replaces the answer stored under the same key', () => {
    const cache = createQueryCache()
    cache.set('q', answer('old'), { tags: ['a'], ttlMs: 1000, stamp: cache.stamp() })
    cache.set('q', answer('new'), { tags: ['b'], ttlMs: 1000, stamp: cache.stamp() })
    expect(cache.get('q')?.value).toBe('new')
    expect(cache.size).toBe(1)
    cache.invalidate(['a'])
    expect(cache.get('q')?.value).toBe('new')
  })

  describe('when an answer outlives its TTL', () => {
    it('drops it', () => {
      const cache = createQueryCache()
      put(cache, 'q', [], 1000)
      vi.setSystemTime(Date.now() + 999)
      expect(cache.get('q')).toBeDefined()
      vi.setSystemTime(Date.now() + 1)
      expect(cache.get('q')).toBeUndefined()
      expect(cache.size).toBe(0)
    })
  })

  describe('when it is full', () => {
    it('evicts the least recently used answer, with use counted to the second', () => {
      vi.useFakeTimers()
      try {
        const cache = createQueryCache({ maxEntries: 2 })
        put(cache, 'a')
        put(cache, 'b')
        vi.advanceTimersByTime(1000)
        expect(cache.get('a')).toBeDefined() // b is now the least recently used
        put(cache, 'c')
        expect(cache.size).toBe(2)
        expect(cache.get('b')).toBeUndefined()
        expect(cache.get('a')?.value).toBe('a')
        expect(cache.get('c')?.value).toBe('c')
      } finally {
        vi.useRealTimers()
      }
    })

    it('evicts the oldest tenth at once when a large cache overflows', () => {
      const cache = createQueryCache({ maxEntries: 20 })
      for (let i = 0; i < 21; i++) put(cache, `q${i}`)
      expect(cache.size).toBe(18)
      expect([0, 1, 2].map((i) => cache.get(`q${i}`))).toEqual([undefined, undefined, undefined])
      expect(cache.get('q3')?.value).toBe('q3')
      expect(cache.get('q20')?.value).toBe('q20')
    })

    it('evicts the least recently used answers once what they weigh passes its bound, down to nine tenths', () => {
      const page = (n: number) => ({
        items: Array.from({ length: 20 }, (_, i) => ({
          id: `${String(n).padStart(2, '0')}-${String(i).padStart(2, '0')}`,
          title: 'x'.repeat(40),
        })),
      })
      const each = weigh(page(0)) + 2 * 'p00'.length + 64
      const cache = createQueryCache({ maxBytes: each * 20 })
      for (let i = 0; i < 20; i++)
        cache.set(`p${String(i).padStart(2, '0')}`, answer(page(i)), {
          tags: [],
          ttlMs: 60_000,
          stamp: cache.stamp(),
        })
      expect(cache.size).toBe(20)
      expect(cache.bytes).toBe(each * 20)
      cache.set('p20', answer(page(20)), { tags: [], ttlMs: 60_000, stamp: cache.stamp() })
      expect(cache.size).toBe(18)
      expect(cache.bytes).toBe(each * 18)
      expect([0, 1, 2].map((i) => cache.get(`p0${i}`))).toEqual([undefined, undefined, undefined])
      expect(cache.get('p20')).toBeDefined()
    })

    it('keeps no answer that weighs more than a tenth of its bound, and drops the one it replaces', () => {
      const cache = createQueryCache({ maxBytes: 10_000 })
      put(cache, 'q')
      cache.set('q', answer('x'.repeat(500)), { tags: [], ttlMs: 60_000, stamp: cache.stamp() })
      expect(cache.get('q')).toBeUndefined()
      expect(cache.bytes).toBe(0)
      put(cache, 'small')
      expect(cache.get('small')).toBeDefined()
    })

    it('keeps nothing with a bound of 0', () => {
      const cache = createQueryCache({ maxBytes: 0 })
      put(cache, 'q')
      expect(cache.size).toBe(0)
    })

    it('evicts in insertion order among answers used within the same second', () => {
      vi.useFakeTimers()
      try {
        const cache = createQueryCache({ maxEntries: 2 })
        put(cache, 'a')
        put(cache, 'b')
        expect(cache.get('a')).toBeDefined()
        put(cache, 'c')
        expect(cache.get('a')).toBeUndefined()
        expect(cache.get('b')?.value).toBe('b')
      } finally {
        vi.useRealTimers()
      }
    })
  })

  describe('when a tag is invalidated', () => {
    it('drops the answers carrying the tag and keeps the others', () => {
      const cache = createQueryCache()
      put(cache, 'details:1', ['event:1'])
      put(cache, 'listing', ['event:1', 'events:upcoming'])
      put(cache, 'details:2', ['event:2'])
      cache.invalidate(['event:1'])
      expect(cache.get('details:1')).toBeUndefined()
      expect(cache.get('listing')).toBeUndefined()
      expect(cache.get('details:2')).toBeDefined()
      expect(cache.size).toBe(1)
    })

    it('tells the listeners which tags, or all on a clear, until they unsubscribe', () => {
      const cache = createQueryCache()
      const heard: (readonly string[] | 'all')[] = []
      const stop = cache.onInvalidate((tags) => heard.push(tags))
      cache.invalidate(new Set(['a', 'b']))
      cache.invalidate([])
      cache.clear()
      stop()
      cache.invalidate(['c'])
      cache.clear()
      expect(heard).toEqual([['a', 'b'], 'all'])
    })

    it('does not store an answer computed before the invalidation', () => {
      const cache = createQueryCache()
      const stamp = cache.stamp() // the query reads the store...
      cache.invalidate(['event:1']) // ...a projection applies an event...
      cache.set('details:1', answer('stale'), { tags: ['event:1'], ttlMs: 60_000, stamp }) // ...then it answers
      expect(cache.get('details:1')).toBeUndefined()
    })

    it('stores an answer computed before an invalidation of other tags, or after it', () => {
      const cache = createQueryCache()
      const before = cache.stamp()
      cache.invalidate(['event:2'])
      cache.set('details:1', answer('fine'), { tags: ['event:1'], ttlMs: 60_000, stamp: before })
      expect(cache.get('details:1')?.value).toBe('fine')
      cache.set('details:2', answer('fresh'), { tags: ['event:2'], ttlMs: 60_000, stamp: cache.stamp() })
      expect(cache.get('details:2')?.value).toBe('fresh')
    })

    it('still refuses an answer computed before an invalidation it no longer keeps a mark of', () => {
      const cache = createQueryCache()
      const stamp = cache.stamp()
      cache.invalidate(['event:1'])
      for (let i = 0; i < 50_001; i++) cache.invalidate([`other:${i}`])
      cache.set('details:1', answer('stale'), { tags: ['event:1'], ttlMs: 60_000, stamp })
      expect(cache.get('details:1')).toBeUndefined()
      put(cache, 'details:1', ['event:1'])
      expect(cache.get('details:1')).toBeDefined()
    })
  })

  describe('filling an answer', () => {
    /** A fill whose computation ends when `finish` is called (or fails, with `fail`). */
    function filling(cache: QueryCache, key: string, tags: readonly string[]) {
      let finish = () => {}
      let fail = () => {}
      const done = cache.fill(
        key,
        () =>
          new Promise<{ answer: ReturnType<typeof answer>; tags: readonly string[]; ttlMs: number }>(
            (resolve, reject) => {
              finish = () => resolve({ answer: answer(key), tags, ttlMs: 60_000 })
              fail = () => reject(new Error('the read failed'))
            },
          ),
      )
      return { done, finish: () => finish(), fail: () => fail() }
    }

    it('stores what it computed, and gives it back', async () => {
      const cache = createQueryCache()
      const fill = filling(cache, 'details:1', ['event:1'])
      fill.finish()
      expect((await fill.done).answer.value).toBe('details:1')
      expect(cache.get('details:1')?.tags).toEqual(['event:1'])
    })

    it('does not store what it computed across an invalidation of its tag', async () => {
      const cache = createQueryCache()
      const fill = filling(cache, 'details:1', ['event:1'])
      cache.invalidate(['event:1'])
      fill.finish()
      expect((await fill.done).answer.value).toBe('details:1')
      expect(cache.get('details:1')).toBeUndefined()
    })

    it('stores an answer computing through invalidations of other tags, whatever the others did', async () => {
      const cache = createQueryCache()
      const slow = filling(cache, 'slow', ['event:1'])
      const done = filling(cache, 'done', ['event:2'])
      const failed = filling(cache, 'failed', ['event:3'])
      done.finish()
      failed.fail()
      await done.done
      await expect(failed.done).rejects.toThrow('the read failed')
      expect(cache.get('failed')).toBeUndefined()
      // Counted as still computing, `slow` has these marked, not every older answer refused.
      cache.invalidate(['event:2', 'event:3'])
      slow.finish()
      await slow.done
      expect(cache.get('slow')).toBeDefined()
      expect(cache.get('done')).toBeUndefined()
    })

    it('stores answers begun after invalidations made while none was computing, and refuses an older stamp', async () => {
      const cache = createQueryCache()
      const old = cache.stamp()
      cache.set('first', answer('first'), { tags: ['event:1'], ttlMs: 60_000, stamp: old })
      // Nothing is being answered now: these mark nothing.
      for (let i = 0; i < 10; i++) cache.invalidate(['event:1', `other:${i}`])
      const fill = filling(cache, 'details:1', ['event:1'])
      fill.finish()
      await fill.done
      expect(cache.get('details:1')).toBeDefined()
      // A stamp from before them, used again, is refused all the same.
      cache.set('late', answer('stale'), { tags: ['event:1'], ttlMs: 60_000, stamp: old })
      expect(cache.get('late')).toBeUndefined()
    })
  })

  describe('over many answers stored again, evicted and invalidated', () => {
    it('drops exactly the answers stored with an invalidated tag, as a plain model of it does', () => {
      // Enough stores of a few keys that the lists of entries per tag are rebuilt many times.
      const cache = createQueryCache({ maxEntries: 40 })
      const model = new Map<string, readonly string[]>()
      let seed = 7
      const random = (n: number) => {
        seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
        return Math.floor(seed / 65_536) % n
      }
      for (let step = 0; step < 30_000; step++) {
        const key = `k${random(30)}`
        if (random(10) === 0) {
          // Two tags only: the lists of the others fill with answers stored again, until rebuilt.
          const tag = `t${random(2)}`
          cache.invalidate([tag])
          for (const [k, tags] of model) if (tags.includes(tag)) model.delete(k)
        } else {
          const tags = [...new Set(Array.from({ length: 1 + random(4) }, () => `t${random(8)}`))]
          put(cache, key, tags)
          model.set(key, tags)
        }
        if (step % 1000 === 999)
          for (let k = 0; k < 30; k++) expect(cache.get(`k${k}`) !== undefined).toBe(model.has(`k${k}`))
      }
      expect(cache.size).toBe(model.size)
    })

    it('lets go of the answers it dropped: what it holds stays near its bound', async () => {
      // A page of 50 KB answered for 2,000 different parameters through a cache of 1 MiB, each page
      // with the query's tag and one of its own: before, every dropped page stayed in the tag's list.
      setFlagsFromString('--expose-gc')
      const gc = runInNewContext('gc') as () => void
      const cache = createQueryCache({ maxBytes: 2 ** 20 })
      const pages: WeakRef<object>[] = []
      for (let i = 0; i < 2000; i++) {
        const page = { items: ['x'.repeat(25_000 - 16)] }
        pages.push(new WeakRef(page))
        cache.set(`q?from=${i}`, answer(page), {
          tags: ['events', `page:${i}`],
          ttlMs: 60_000,
          stamp: cache.stamp(),
        })
      }
      expect(cache.bytes).toBeLessThanOrEqual(2 ** 20)
      // A WeakRef keeps its value until the job that made it ends.
      await new Promise((resolve) => setImmediate(resolve))
      gc()
      const alive = pages.filter((page) => page.deref() !== undefined).length
      // At most the bound's worth stored (20 pages) and half of it dropped but listed, and a page over.
      expect(alive).toBeLessThanOrEqual(31)
      expect(alive).toBeGreaterThanOrEqual(cache.size)
    })
  })

  describe('when it is cleared', () => {
    it('drops every answer, and refuses answers computed before the clear', () => {
      const cache = createQueryCache()
      put(cache, 'a', ['t'])
      put(cache, 'b')
      const stamp = cache.stamp()
      cache.clear()
      expect(cache.size).toBe(0)
      expect(cache.get('a')).toBeUndefined()
      cache.set('c', answer('stale'), { tags: [], ttlMs: 60_000, stamp })
      expect(cache.get('c')).toBeUndefined()
      put(cache, 'd', ['t'])
      expect(cache.get('d')?.value).toBe('d')
    })
  })
})

describe('what an answer weighs', () => {
  it('counts text by its length, and every field and item of objects and arrays', () => {
    expect(weigh('')).toBe(32)
    expect(weigh('x'.repeat(100)) - weigh('')).toBe(200)
    expect(weigh({ a: 1, b: 'x' })).toBe(48 + 16 + 16 + 16 + weigh('x'))
    expect(weigh([1, 2])).toBe(48 + 2 * (16 + 16))
    expect(weigh(null)).toBe(16)
  })

  it('counts the bytes of binary data without visiting each of them', () => {
    expect(weigh(Buffer.alloc(1_000_000))).toBe(48 + 1_000_000)
    expect(weigh({ blob: new Uint8Array(100) })).toBe(48 + 16 + 48 + 100)
  })

  it('stops six levels down, so a deep or circular value still has a weight', () => {
    const circular: Record<string, unknown> = {}
    circular.self = circular
    expect(weigh(circular)).toBeGreaterThan(1024)
    expect(weigh(circular)).toBeLessThan(2048)
  })

  it('weighs a page of twenty procurement requests at about 18 KB', () => {
    const summary = {
      requestId: '0190b000-0000-7000-8000-000000000001',
      requesterId: 'pr-1234567-12-3',
      department: 'dept-05',
      fiscalYear: 2026,
      currency: 'KRW',
      title: 'Benchmark purchase 12',
      total: 123_456,
      itemCount: 2,
      status: 'approved',
      createdAt: '2026-03-04T05:06:07.123Z',
      updatedAt: '2026-03-04T05:06:07.123Z',
      currentStep: null,
      paidAmount: null,
    }
    const bytes = weigh({
      items: Array.from({ length: 20 }, () => ({ ...summary })),
      nextCursor: 'x'.repeat(60),
    })
    expect(bytes).toBeGreaterThan(15_000)
    expect(bytes).toBeLessThan(21_000)
  })
})
