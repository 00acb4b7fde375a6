import type { KvOp, KvReader, LexRange } from '../core/read-stores.js'
import { compareBytes, inLexRange } from './kv-memory.js'

/** A key-value store with sorted sets: Redis in server mode, memory in embedded mode. */
export interface KvStore extends KvReader {
  /**
   * Applies `ops` and moves the checkpoint key from `expect` to `next`, atomically, only if the key
   * still holds `expect` (null: absent). Returns false, changing nothing, when it does not.
   */
  commit(
    ops: readonly KvOp[],
    checkpoint: { key: string; expect: string | null; next: string },
  ): Promise<boolean>
  /** Removes every key that starts with `prefix`. */
  deletePrefix(prefix: string): Promise<void>
  /**
   * Calls `listener` each time the store may have lost what was written to it: connected again after
   * losing its connection (a server that restarted may have come back without its data: Redis keeps
   * none on disk here), or flushed while connected.
   */
  onPossibleLoss?(listener: () => void): void
  /**
   * Whether the store still holds the mark this process keeps in it: false once it was emptied
   * (flushed, restarted without its data), perhaps before `onPossibleLoss` has told of it, until the
   * mark is set again after the loss was told. Absent where the store cannot lose its data.
   */
  intact?(): Promise<boolean>
  close(): Promise<void>
}

/**
 * `reader` whose reads wait, while `held()` gives a promise, for it to settle first: reads after a
 * reconnection wait until the projections have checked that the store still holds what they applied.
 */
export function heldReader(reader: KvReader, held: () => Promise<unknown> | undefined): KvReader {
  const after =
    <A extends unknown[], R>(read: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> => {
      const wait = held()
      return wait === undefined ? read(...args) : wait.then(() => read(...args))
    }
  return {
    get: after((key) => reader.get(key)),
    mget: after((keys) => reader.mget(keys)),
    smembers: after((key) => reader.smembers(key)),
    zrangeByLex: after((key, range) => reader.zrangeByLex(key, range)),
    zrank: after((key, member) => reader.zrank(key, member)),
    zcard: after((key) => reader.zcard(key)),
  }
}

/** A reader that sees only the keys under `prefix`, as if they had no prefix. */
export function scopedReader(store: KvReader, prefix: string): KvReader {
  const k = (key: string) => prefix + key
  return {
    get: (key) => store.get(k(key)),
    mget: (keys) => store.mget(keys.map(k)),
    smembers: (key) => store.smembers(k(key)),
    zrangeByLex: (key, range: LexRange) => store.zrangeByLex(k(key), range),
    zrank: (key, member) => store.zrank(k(key), member),
    zcard: (key) => store.zcard(k(key)),
  }
}

/**
 * What a KV projection writes a batch of events into. Reads see the batch's own writes to plain
 * keys, sets and sorted sets (but not what a `ztrim` will drop), so one event can build on the one
 * before it in the same batch.
 */
export interface KvBatch {
  /** Cache tags the event touches beyond its projection's `tags(event)`. */
  touch(...tags: string[]): void
  get(key: string): Promise<string | null>
  getJson<T>(key: string): Promise<T | undefined>
  smembers(key: string): Promise<string[]>
  /** Members of a sorted set whose scores are all 0, ordered by member, with this batch's adds and removes. */
  zrangeByLex(key: string, range: LexRange): Promise<string[]>
  set(key: string, value: string): void
  setJson(key: string, value: unknown): void
  del(key: string): void
  zadd(key: string, score: number, member: string): void
  zrem(key: string, member: string): void
  /** Keeps a sorted set's `keep` highest members; the highest one dropped raises the string at `floorKey`. */
  ztrim(key: string, keep: number, floorKey: string): void
  /** `zadd(key, 0, member)` then `ztrim(key, keep, floorKey)`, as one op: what a fan-out writes per follower. */
  zaddCapped(key: string, member: string, keep: number, floorKey: string): void
  sadd(key: string, member: string): void
  srem(key: string, member: string): void
}

export interface KvBatchWriter {
  batch: KvBatch
  /** Reads `keys` in one round trip; later `get`s of them are answered from memory. */
  preload(keys: readonly string[]): Promise<void>
  ops(): KvOp[]
}

export function createKvBatch(
  store: KvReader,
  prefix: string,
  touched: Set<string> = new Set(),
): KvBatchWriter {
  const ops: KvOp[] = []
  /** Plain keys as the batch sees them: read once from the store, or written by the batch. */
  const strings = new Map<string, string | null>()
  /** Members added (true) or removed (false) by this batch, per set and per sorted set. */
  const sets = new Map<string, Map<string, boolean>>()
  const zsets = new Map<string, Map<string, boolean>>()
  /** Keys deleted in this batch: their stored members no longer count. */
  const cleared = new Set<string>()
  const changesOf = (map: Map<string, Map<string, boolean>>, key: string) => {
    let changes = map.get(key)
    if (!changes) map.set(key, (changes = new Map<string, boolean>()))
    return changes
  }
  const k = (key: string) => prefix + key

  const batch: KvBatch = {
    touch: (...tags) => {
      for (const tag of tags) touched.add(tag)
    },
    async get(key) {
      if (strings.has(key)) return strings.get(key) ?? null
      const value = await store.get(k(key))
      strings.set(key, value)
      return value
    },
    async getJson<T>(key: string) {
      const text = await batch.get(key)
      return text === null ? undefined : (JSON.parse(text) as T)
    },
    async smembers(key) {
      const members = new Set(cleared.has(key) ? [] : await store.smembers(k(key)))
      for (const [member, present] of sets.get(key) ?? new Map<string, boolean>()) {
        if (present) members.add(member)
        else members.delete(member)
      }
      return [...members]
    },
    async zrangeByLex(key, range) {
      const changes = zsets.get(key) ?? new Map<string, boolean>()
      // Enough stored members that the batch's removals cannot leave the range short.
      const stored = cleared.has(key)
        ? []
        : await store.zrangeByLex(k(key), { ...range, count: range.count + changes.size })
      const members = new Set(stored)
      for (const [member, present] of changes) {
        if (!present) members.delete(member)
        else if (inLexRange(member, range)) members.add(member)
      }
      const order = range.reverse ? (a: string, b: string) => compareBytes(b, a) : compareBytes
      return [...members].sort(order).slice(0, range.count)
    },
    set(key, value) {
      strings.set(key, value)
      ops.push(['set', k(key), value])
    },
    setJson: (key, value) => batch.set(key, JSON.stringify(value)),
    del(key) {
      strings.set(key, null)
      sets.delete(key)
      zsets.delete(key)
      cleared.add(key)
      ops.push(['del', k(key)])
    },
    zadd(key, score, member) {
      changesOf(zsets, key).set(member, true)
      ops.push(['zadd', k(key), score, member])
    },
    zrem(key, member) {
      changesOf(zsets, key).set(member, false)
      ops.push(['zrem', k(key), member])
    },
    ztrim: (key, keep, floorKey) => ops.push(['ztrim', k(key), keep, k(floorKey)]),
    zaddCapped(key, member, keep, floorKey) {
      changesOf(zsets, key).set(member, true)
      ops.push(['zaddcap', k(key), member, keep, k(floorKey)])
    },
    sadd(key, member) {
      changesOf(sets, key).set(member, true)
      ops.push(['sadd', k(key), member])
    },
    srem(key, member) {
      changesOf(sets, key).set(member, false)
      ops.push(['srem', k(key), member])
    },
  }
  return {
    batch,
    async preload(keys) {
      const missing = [...new Set(keys)].filter((key) => !strings.has(key))
      if (missing.length === 0) return
      const values = await store.mget(missing.map(k))
      missing.forEach((key, i) => strings.set(key, values[i] ?? null))
    },
    ops: () => ops,
  }
}
