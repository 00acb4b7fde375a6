/**
 * The query cache: answers kept per query, parameters and caller, dropped when a projection applies
 * an event touching one of their tags. TTL is only a backstop.
 *
 * A query that read the store before an invalidation must not put its (older) answer in afterwards:
 * `stamp()` is taken before the query runs and `set()` refuses if any tag was invalidated since.
 */
export interface CachedAnswer {
  value: unknown
  readPosition: string
}

export interface QueryCache {
  get(key: string): (CachedAnswer & { tags: readonly string[] }) | undefined
  stamp(): number
  set(
    key: string,
    answer: CachedAnswer,
    options: { tags: readonly string[]; ttlMs: number; stamp: number },
  ): void
  invalidate(tags: Iterable<string>): void
  clear(): void
  /**
   * Calls `listener` with the tags of every invalidation, and with `'all'` when the cache is cleared
   * (live queries listen here).
   */
  onInvalidate(listener: (tags: readonly string[] | 'all') => void): () => void
  readonly size: number
}

interface Entry extends CachedAnswer {
  tags: readonly string[]
  expiresAt: number
  /** When the entry last moved to the young end of the LRU order. */
  touchedAt: number
}

/** A hit moves its entry to the young end at most this often: LRU at one-second resolution. */
const touchEveryMs = 1000

/** How many invalidation marks are kept; a query older than the oldest mark is not cached. */
const markLimit = 50_000

export function createQueryCache(options: { maxEntries?: number } = {}): QueryCache {
  const maxEntries = options.maxEntries ?? 10_000
  // Past a limit, the oldest tenth goes at once (answers and marks alike). A Map keeps deleted slots
  // until it rehashes, so finding its oldest entry skips every slot deleted before it: one eviction
  // per insert cost ~7 µs at 10,000 entries (most of a cache set); a sweep per tenth pays that once.
  const keptEntries = maxEntries - Math.floor(maxEntries / 10)
  const entries = new Map<string, Entry>()
  const byTag = new Map<string, Set<string>>()
  const invalidatedAt = new Map<string, number>()
  const listeners = new Set<(tags: readonly string[] | 'all') => void>()
  let epoch = 0
  let forgottenBefore = 0

  function remove(key: string, entry: Entry) {
    entries.delete(key)
    for (const tag of entry.tags) {
      const keys = byTag.get(tag)
      keys?.delete(key)
      if (keys?.size === 0) byTag.delete(tag)
    }
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
    stamp: () => epoch,
    set(key, answer, { tags, ttlMs, stamp }) {
      if (stamp < forgottenBefore) return
      for (const tag of tags) if ((invalidatedAt.get(tag) ?? -1) > stamp) return
      const previous = entries.get(key)
      if (previous) remove(key, previous)
      const now = Date.now()
      // Built field by field: V8 (Node 20) adds a key to a spread's copy through its slow path, ~1 µs each.
      const entry = {
        value: answer.value,
        readPosition: answer.readPosition,
        tags,
        expiresAt: now + ttlMs,
        touchedAt: now,
      }
      entries.set(key, entry)
      for (const tag of tags) {
        let keys = byTag.get(tag)
        if (!keys) byTag.set(tag, (keys = new Set()))
        keys.add(key)
      }
      if (entries.size > maxEntries) {
        for (const [oldKey, oldEntry] of entries) {
          remove(oldKey, oldEntry)
          if (entries.size <= keptEntries) break
        }
      }
    },
    invalidate(tags) {
      const list = [...tags]
      if (list.length === 0) return
      epoch++
      for (const tag of list) {
        mark(tag)
        const keys = byTag.get(tag)
        if (!keys) continue
        for (const key of [...keys]) {
          const entry = entries.get(key)
          if (entry) remove(key, entry)
        }
      }
      for (const listener of listeners) listener(list)
    },
    clear() {
      epoch++
      forgottenBefore = epoch
      invalidatedAt.clear()
      entries.clear()
      byTag.clear()
      for (const listener of listeners) listener('all')
    },
    onInvalidate(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    get size() {
      return entries.size
    },
  }
}

/**
 * Cache tags belong to a domain: `event:42` of one domain is not `event:42` of another. Projections
 * and queries name their tags plainly; the kernel puts the domain in front on both sides.
 */
export function domainTags(domain: string, tags: Iterable<string>): string[] {
  return Array.from(tags, (tag) => `${domain}/${tag}`)
}
