import type { KvOp, LexBound, LexRange } from '../core/read-stores.js'
import { unreachable } from '../core/decider.js'
import type { KvStore } from './kv.js'

/**
 * The embedded KV store: Redis semantics for the commands Tandem uses, in this process's memory.
 * It starts empty; the projections rebuild it from the event log at start.
 */
export function createMemoryKv(): KvStore {
  const strings = new Map<string, string>()
  const sets = new Map<string, Set<string>>()
  const zsets = new Map<string, SortedSet>()

  function trim(key: string, keep: number, floorKey: string) {
    const cut = zsets.get(key)?.trim(keep)
    const floor = strings.get(floorKey)
    if (cut !== undefined && (floor === undefined || compareBytes(floor, cut) < 0)) strings.set(floorKey, cut)
  }

  function apply(op: KvOp) {
    switch (op[0]) {
      case 'set':
        strings.set(op[1], op[2])
        return
      case 'del':
        strings.delete(op[1])
        sets.delete(op[1])
        zsets.delete(op[1])
        return
      case 'sadd': {
        let set = sets.get(op[1])
        if (!set) sets.set(op[1], (set = new Set()))
        set.add(op[2])
        return
      }
      case 'srem': {
        const set = sets.get(op[1])
        set?.delete(op[2])
        if (set?.size === 0) sets.delete(op[1])
        return
      }
      case 'zadd': {
        let zset = zsets.get(op[1])
        if (!zset) zsets.set(op[1], (zset = new SortedSet()))
        zset.add(op[2], op[3])
        return
      }
      case 'zrem': {
        const zset = zsets.get(op[1])
        zset?.remove(op[2])
        if (zset?.size === 0) zsets.delete(op[1])
        return
      }
      case 'ztrim':
        trim(op[1], op[2], op[3])
        return
      case 'zaddcap':
        apply(['zadd', op[1], 0, op[2]])
        trim(op[1], op[3], op[4])
        return
      default:
        unreachable(op[0])
    }
  }

  return {
    get: async (key) => strings.get(key) ?? null,
    mget: async (keys) => keys.map((key) => strings.get(key) ?? null),
    smembers: async (key) => [...(sets.get(key) ?? [])],
    zrangeByLex: async (key, range) => zsets.get(key)?.rangeByLex(range) ?? [],
    zrank: async (key, member) => zsets.get(key)?.rank(member) ?? null,
    zcard: async (key) => zsets.get(key)?.size ?? 0,
    async commit(ops, checkpoint) {
      if ((strings.get(checkpoint.key) ?? null) !== checkpoint.expect) return false
      for (const op of ops) apply(op)
      strings.set(checkpoint.key, checkpoint.next)
      return true
    },
    async deletePrefix(prefix) {
      for (const map of [strings, sets, zsets]) {
        for (const key of [...map.keys()]) if (key.startsWith(prefix)) map.delete(key)
      }
    },
    close: async () => undefined,
  }
}

interface Entry {
  score: number
  member: string
}

/** Members ordered by (score, member), as a Redis sorted set; a sorted array with binary search. */
class SortedSet {
  private readonly entries: Entry[] = []
  private readonly scores = new Map<string, number>()

  get size(): number {
    return this.entries.length
  }

  add(score: number, member: string): void {
    this.remove(member)
    const at = this.search({ score, member })
    this.entries.splice(at, 0, { score, member })
    this.scores.set(member, score)
  }

  remove(member: string): void {
    const score = this.scores.get(member)
    if (score === undefined) return
    this.entries.splice(this.search({ score, member }), 1)
    this.scores.delete(member)
  }

  /** Drops the lowest entries past the `keep` highest; gives the highest one dropped, if any. */
  trim(keep: number): string | undefined {
    const cut = this.entries.length - keep
    if (cut <= 0) return undefined
    const dropped = this.entries.splice(0, cut)
    for (const e of dropped) this.scores.delete(e.member)
    return dropped[dropped.length - 1]?.member
  }

  rank(member: string): number | null {
    const score = this.scores.get(member)
    return score === undefined ? null : this.search({ score, member })
  }

  rangeByLex(range: LexRange): string[] {
    const out: string[] = []
    const inRange = (m: string) => inLexRange(m, range)
    if (range.reverse) {
      for (let i = this.entries.length - 1; i >= 0 && out.length < range.count; i--) {
        const m = (this.entries[i] as Entry).member
        if (inRange(m)) out.push(m)
        else if (!aboveMin(m, range.min)) break
      }
    } else {
      for (let i = this.firstAtLeast(range.min); i < this.entries.length && out.length < range.count; i++) {
        const m = (this.entries[i] as Entry).member
        if (!belowMax(m, range.max)) break
        if (inRange(m)) out.push(m)
      }
    }
    return out
  }

  /** Index of the first entry not below `bound` (scores are all equal in lex ranges). */
  private firstAtLeast(bound: LexBound): number {
    if (bound === '-' || bound === '+') return bound === '-' ? 0 : this.entries.length
    const score = this.entries[0]?.score ?? 0
    return this.search({ score, member: bound.slice(1) })
  }

  /** The index at which `entry` is, or would be inserted. */
  private search(entry: Entry): number {
    let lo = 0
    let hi = this.entries.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const e = this.entries[mid] as Entry
      if (e.score < entry.score || (e.score === entry.score && compareBytes(e.member, entry.member) < 0))
        lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

/** Whether `member` lies within a lex range's bounds. */
export function inLexRange(member: string, range: Pick<LexRange, 'min' | 'max'>): boolean {
  return aboveMin(member, range.min) && belowMax(member, range.max)
}

function aboveMin(member: string, min: LexBound): boolean {
  if (min === '-') return true
  if (min === '+') return false
  const order = compareBytes(member, min.slice(1))
  return min[0] === '[' ? order >= 0 : order > 0
}

function belowMax(member: string, max: LexBound): boolean {
  if (max === '+') return true
  if (max === '-') return false
  const order = compareBytes(member, max.slice(1))
  return max[0] === '[' ? order <= 0 : order < 0
}

/**
 * Orders text as Redis does, by its UTF-8 bytes, which is the order of code points. JavaScript's
 * `<` compares UTF-16 units instead, and the two differ only where a surrogate (half of a
 * character above U+FFFF) meets a unit from U+E000 to U+FFFF: there the surrogate sorts after.
 */
export function compareBytes(a: string, b: string): number {
  if (a === b) return 0
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x === y) continue
    return x >= 0xd800 && y >= 0xd800 ? codePointRank(x) - codePointRank(y) : x - y
  }
  return a.length - b.length
}

/** A UTF-16 unit from U+D800 up, placed as its code point sorts: surrogates above U+FFFF. */
function codePointRank(unit: number): number {
  return unit >= 0xe000 ? unit - 0x800 : unit + 0x2000
}
