import type { SqlClient } from './sql.js'

/**
 * Ports of the read side. Query handlers see a projection's data through these; projections/
 * implements them over Redis, memory and SQL, each scoped to the projection's live generation.
 */

/** A lexicographic bound as Redis writes it: `[a` (inclusive), `(a` (exclusive), `-` or `+`. */
export type LexBound = `[${string}` | `(${string}` | '-' | '+'

export interface LexRange {
  min: LexBound
  max: LexBound
  count: number
  /** Walk from `max` down to `min`. */
  reverse?: boolean
}

export interface KvReader {
  get(key: string): Promise<string | null>
  mget(keys: readonly string[]): Promise<(string | null)[]>
  smembers(key: string): Promise<string[]>
  /** Members of a sorted set whose scores are all 0, ordered by member. */
  zrangeByLex(key: string, range: LexRange): Promise<string[]>
  /** Rank (0-based) of a member in a sorted set ordered by score then member. */
  zrank(key: string, member: string): Promise<number | null>
  zcard(key: string): Promise<number>
}

export type KvOp =
  | readonly ['set', string, string]
  | readonly ['del', string]
  | readonly ['zadd', string, number, string]
  | readonly ['zrem', string, string]
  | readonly ['sadd', string, string]
  | readonly ['srem', string, string]
  /**
   * `['ztrim', key, keep, floorKey]`: drops the lowest members of a sorted set past its `keep`
   * highest, and raises the string at `floorKey` to the highest member it dropped (a capped list
   * remembers where it stops being whole).
   */
  | readonly ['ztrim', string, number, string]
  /** `['zaddcap', key, member, keep, floorKey]`: a `zadd` at score 0 then a `ztrim`, in one op (a fan-out's). */
  | readonly ['zaddcap', string, string, number, string]

export interface SqlReadModel {
  sql: SqlClient
  /** The qualified name of one of the projection's tables in its live generation. */
  table(name: string): string
}

export interface ReadStores {
  kv(projection: string): KvReader
  sql(projection: string): SqlReadModel
}
