/**
 * The query cache: answers kept per query, parameters and caller, dropped when a projection applies
 * an event touching one of their tags. TTL is only a backstop.
 *
 * A query that read the store before an invalidation must not put its (older) answer in afterwards:
 * `stamp()` is taken before the query runs and `set()` refuses if any tag was invalidated since
 * (`fill` does both around a computation). An invalidation marks its tags for the queries stamped
 * and not yet set; while there are none (a projector's process, a quiet moment) it marks nothing.
 */
export interface CachedAnswer {
  value: unknown
  readPosition: string
}

/** What `fill` stores: the answer, with its tags and time to live. */
export interface Filling {
  answer: CachedAnswer
  tags: readonly string[]
  ttlMs: number
}

export interface QueryCache {
  get(key: string): (CachedAnswer & { tags: readonly string[] }) | undefined
  /** Begins an answer: its stamp, for `set`, which ends it. */
  stamp(): number
  set(
    key: string,
    answer: CachedAnswer,
    options: { tags: readonly string[]; ttlMs: number; stamp: number },
  ): void
  /**
   * Computes an answer and stores it under `key`, unless a tag of it was invalidated meanwhile; gives
   * back what `compute` made either way (and its failure, storing nothing).
   */
  fill<T extends Filling>(key: string, compute: () => Promise<T>): Promise<T>
  invalidate(tags: Iterable<string>): void
  clear(): void
  /**
   * Calls `listener` with the tags of every invalidation, and with `'all'` when the cache is cleared
   * (live queries listen here).
   */
  onInvalidate(listener: (tags: readonly string[] | 'all') => void): () => void
  readonly size: number
  /** What the answers kept weigh (`weigh`). */
  readonly bytes: number
  /**
   * Invalidations and clears so far. Read by a listener, the count its invalidation made: an answer
   * begun (stamped) at that count or later was begun after it.
   */
  readonly epoch: number
}

interface Entry extends CachedAnswer {
  key: string
  tags: readonly string[]
  /** What the entry holds, roughly (`weigh`). */
  bytes: number
  expiresAt: number
  /** When the entry last moved to the young end of the LRU order. */
  touchedAt: number
}

/** A hit moves its entry to the young end at most this often: LRU at one-second resolution. */
const touchEveryMs = 1000

/** How many invalidation marks are kept; a query older than the oldest mark is not cached. */
const markLimit = 50_000

/** The memory the query cache may hold by default (QUERY_CACHE_MB). */
export const defaultCacheBytes = 256 * 2 ** 20

export interface QueryCacheOptions {
  /**
   * The memory its answers may take, as `weigh` counts it (default 256 MiB): the bound that matters.
   * An answer weighing more than a tenth of it is not kept; 0 keeps nothing.
   */
  maxBytes?: number
  /** The most answers kept, however small (default 1,000,000). */
  maxEntries?: number
}

/**
 * Bounded by what its answers weigh, not by their number: ten thousand answers, the bound this
 * replaced, were 2 MB of budget summaries or 180 MB of list pages, and a procurement benchmark
 * whose managers ask 12,000 filter combinations found one page in two there.
 */
export function createQueryCache(options: QueryCacheOptions = {}): QueryCache {
  const maxBytes = options.maxBytes ?? defaultCacheBytes
  const maxEntries = options.maxEntries ?? 1_000_000
  const largest = maxBytes / 10
  // Past a bound, the oldest answers go until a tenth is free (answers and marks alike). A Map keeps
  // deleted slots until it rehashes, so finding its oldest entry skips every slot deleted before it:
  // one eviction per insert cost ~7 µs at 10,000 entries (most of a cache set); a sweep per tenth
  // pays that once.
  const keptEntries = maxEntries - Math.floor(maxEntries / 10)
  const keptBytes = maxBytes - largest
  let bytes = 0
  const entries = new Map<string, Entry>()
  /**
   * The entries stored with each tag, the ones since dropped included: an entry leaves these lists
   * when its tag is invalidated or the lists are rebuilt, and invalidation drops only the entries
   * still stored (the same object under their key). A dropped entry listed still holds its answer,
   * so the lists are also rebuilt once the entries dropped since the last rebuild weigh half the
   * bound: 4,000 list pages of 0.5 MB, each evicted by the next, were 4 GB held by a 256 MiB cache.
   * A set of keys per tag, kept exact, cost about
   * 1 µs per tag to add and to remove: storing an answer with a feed page's 21 tags took 27.5 µs,
   * 9.9 µs with lists (a node loop of 100,000 stores over `dist/`, 10,000 entries kept).
   */
  const byTag = new Map<string, Entry[]>()
  /** Entries in the lists, and tags of the entries stored: the lists are rebuilt past twice these. */
  let listed = 0
  let stored = 0
  /** What the entries dropped since the lists were rebuilt weigh: some of them are still listed. */
  let unlisted = 0
  const invalidatedAt = new Map<string, number>()
  const listeners = new Set<(tags: readonly string[] | 'all') => void>()
  let epoch = 0
  let forgottenBefore = 0
  /** Answers stamped and not set yet: only these need an invalidation's marks. */
  let open = 0

  function remove(key: string, entry: Entry) {
    entries.delete(key)
    stored -= entry.tags.length
    bytes -= entry.bytes
    unlisted += entry.bytes
  }

  function list(entry: Entry) {
    for (const tag of entry.tags) {
      const tagged = byTag.get(tag)
      if (tagged) tagged.push(entry)
      else byTag.set(tag, [entry])
    }
    listed += entry.tags.length
  }

  /**
   * The lists again from the entries stored, once they hold twice those and 10,000 more (a rebuild
   * lists each tag of each entry stored, after at least as many were listed since the last one), or
   * once the entries dropped since weigh half the bound (after at least that much was weighed).
   */
  function relist() {
    byTag.clear()
    listed = 0
    unlisted = 0
    for (const entry of entries.values()) list(entry)
  }

  function mark(tag: string) {
    invalidatedAt.delete(tag)
    invalidatedAt.set(tag, epoch)
    if (invalidatedAt.size <= markLimit) return
    for (const [oldTag, at] of invalidatedAt) {
      invalidatedAt.delete(oldTag)
      forgottenBefore = at + 1
      if (invalidatedAt.size <= markLimit - markLimit / 10) break
    }
  }

  const stamp = () => {
    open++
    return epoch
  }

  const set: QueryCache['set'] = (key, answer, { tags, ttlMs, stamp }) => {
    if (open > 0) open--
    if (stamp < forgottenBefore) return
    for (const tag of tags) if ((invalidatedAt.get(tag) ?? -1) > stamp) return
    const weight = weigh(answer.value) + 2 * key.length + 64
    const previous = entries.get(key)
    if (previous) remove(key, previous)
    if (weight > largest) return
    const now = Date.now()
    // Built field by field: V8 (Node 20) adds a key to a spread's copy through its slow path, ~1 µs each.
    const entry: Entry = {
      value: answer.value,
      readPosition: answer.readPosition,
      key,
      tags,
      bytes: weight,
      expiresAt: now + ttlMs,
      touchedAt: now,
    }
    entries.set(key, entry)
    stored += tags.length
    bytes += weight
    list(entry)
    if (entries.size > maxEntries || bytes > maxBytes) {
      for (const [oldKey, oldEntry] of entries) {
        remove(oldKey, oldEntry)
        if (entries.size <= keptEntries && bytes <= keptBytes) break
      }
    }
    if (listed > 2 * stored + 10_000 || unlisted > maxBytes / 2) relist()
  }

  return {
    get(key) {
      const entry = entries.get(key)
      if (!entry) return undefined
      const now = Date.now()
      if (entry.expiresAt <= now) {
        remove(key, entry)
        return undefined
      }
      if (now - entry.touchedAt >= touchEveryMs) {
        entry.touchedAt = now
        entries.delete(key)
        entries.set(key, entry)
      }
      return entry
    },
    stamp,
    set,
    async fill(key, compute) {
      const stamped = stamp()
      let made
      try {
        made = await compute()
      } catch (error) {
        if (open > 0) open--
        throw error
      }
      set(key, made.answer, { tags: made.tags, ttlMs: made.ttlMs, stamp: stamped })
      return made
    },
    invalidate(tags) {
      const dropped = [...tags]
      if (dropped.length === 0) return
      epoch++
      // With no answer being made, no mark is needed: one made later is stamped after this.
      const marking = open > 0
      if (!marking) {
        forgottenBefore = epoch
        if (invalidatedAt.size > 0) invalidatedAt.clear()
      }
      for (const tag of dropped) {
        if (marking) mark(tag)
        const tagged = byTag.get(tag)
        if (!tagged) continue
        byTag.delete(tag)
        listed -= tagged.length
        for (const entry of tagged) if (entries.get(entry.key) === entry) remove(entry.key, entry)
      }
      for (const listener of listeners) listener(dropped)
    },
    clear() {
      epoch++
      forgottenBefore = epoch
      invalidatedAt.clear()
      entries.clear()
      byTag.clear()
      listed = 0
      stored = 0
      bytes = 0
      unlisted = 0
      for (const listener of listeners) listener('all')
    },
    onInvalidate(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    get size() {
      return entries.size
    },
    get bytes() {
      return bytes
    },
    get epoch() {
      return epoch
    },
  }
}

/**
 * What an answer takes in memory, roughly, with the body the HTTP layer serializes once from it and
 * keeps beside it: twice what V8 gives its values (a string 16 bytes and one per character, an
 * object or array 24 and 8 per field, a number 8). A page of twenty procurement requests weighs
 * 18 KB here; measured, it and its body took 15 KB of heap. Past six levels a value counts 1 KB.
 */
export function weigh(value: unknown, depth = 0): number {
  if (typeof value === 'string') return 2 * (16 + value.length)
  if (typeof value !== 'object' || value === null) return 16
  if (depth > 6) return 1024
  // Bytes are counted, not walked: for...in would visit a Buffer's every index.
  if (ArrayBuffer.isView(value)) return 48 + value.byteLength
  let total = 48
  if (Array.isArray(value)) {
    for (const item of value as unknown[]) total += 16 + weigh(item, depth + 1)
    return total
  }
  for (const key in value) total += 16 + weigh((value as Record<string, unknown>)[key], depth + 1)
  return total
}

/**
 * The tag every cached answer carries for each read model it read: dropped, every answer read from
 * that read model goes. For what is known to have changed there but not where (another projector
 * applied events whose tags this process never learned: placements.ts). Outside every domain's tags.
 */
export const readModelTag = (name: string) => `~read-model:${name}`

/**
 * Cache tags belong to a domain: `event:42` of one domain is not `event:42` of another. Projections
 * and queries name their tags plainly; the kernel puts the domain in front on both sides.
 */
export function domainTags(domain: string, tags: Iterable<string>): string[] {
  return Array.from(tags, (tag) => `${domain}/${tag}`)
}
