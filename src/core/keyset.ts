import { ValidationError } from './errors.js'
import { decodeCursor, encodeCursor } from './paging.js'

/**
 * Keyset paging over (time, id), newest first, for SQL read models: a cursor is the opaque form of
 * `<query>|<time>|<id>` of the last row of a page, taken back only by that query. Times are ISO text in UTC (columns COLLATE "C"), so they
 * sort as text; a row added or deleted between pages moves no other row across a page edge.
 */
export interface TimeKey {
  time: string
  id: string
}

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const isoTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
/** Years 0001 to 9999: what ISO text of four-digit years and PostgreSQL's timestamptz both hold. */
const earliest = Date.parse('0001-01-01T00:00:00.000Z')
const latest = Date.parse('9999-12-31T23:59:59.999Z')
const maxPosition = 2n ** 63n - 1n

/**
 * A time as read models store it: UTC ISO text with milliseconds, which sorts as text. One the
 * schema lets through that JavaScript cannot place (a leap second, `23:59:60`), or outside the years
 * 0001 to 9999 (year 0000 is no year to PostgreSQL), is a 400 at `path`. Digits past the
 * millisecond are cut, as JavaScript reads them; `bound: 'ceil'` rounds them up instead, for a
 * bound that is the first time in (`>= from`) or the first out (`< to`): cut, `.0265` would take in
 * what was stored at `.026`.
 */
export function storedTime(value: string, path: string, bound?: 'ceil'): string {
  return timeWithin(value, path, bound, earliest, 'is not a time between the years 0001 and 9999')
}

/**
 * `storedTime` for a domain whose times begin in `firstYear` (events and cards 1970, study 2000):
 * an earlier one is a 400 too.
 */
export function timeFrom(firstYear: number) {
  const first = Date.UTC(firstYear, 0, 1)
  const outside = `must be a time between ${firstYear} and 9999`
  return (value: string, path: string, bound?: 'ceil'): string =>
    timeWithin(value, path, bound, first, outside)
}

function timeWithin(value: string, path: string, bound: 'ceil' | undefined, from: number, outside: string) {
  const ms = Date.parse(value)
  if (Number.isNaN(ms))
    throw new ValidationError([{ path, message: 'is not a time (a leap second is not kept)' }])
  // Past the millisecond: JavaScript reads `.0265` as `.026`.
  const at = bound === 'ceil' && /\.\d{3}\d*[1-9]/.test(value) ? ms + 1 : ms
  if (at < from || at > latest) throw new ValidationError([{ path, message: outside }])
  return new Date(at).toISOString()
}

/** Digits of a time past the millisecond, to nine (Date.parse drops them). */
const pastMs = (time: string) => (/\.\d{3}(\d+)/.exec(time)?.[1] ?? '').padEnd(9, '0')

/**
 * Whether time `a` is after time `b`, both as given (a valid time each), to the digit: `.0009` is
 * after `.0001`, which the millisecond alone would call equal. For a range whose start is after its
 * end: a 400, in every query that takes one.
 */
export function laterTime(a: string, b: string): boolean {
  const [x, y] = [Date.parse(a), Date.parse(b)]
  return x !== y ? x > y : pastMs(a) > pastMs(b)
}

/** Whether `text` is a time exactly as `storedTime` writes it (a cursor's, say): 2031-02-30 is not. */
export function isStoredTime(text: string): boolean {
  if (!isoTime.test(text)) return false
  const ms = Date.parse(text)
  return ms >= earliest && ms <= latest && new Date(ms).toISOString() === text
}

/** Whether `text` is a position in the event log: 1 to 2^63-1, no leading zero. */
export function isLogPosition(text: string): boolean {
  return /^[1-9]\d{0,18}$/.test(text) && BigInt(text) <= maxPosition
}

/** A keyset cursor that names its query: `<query>|<parts…>`, base64url. */
export const cursorOf = (query: string, ...parts: string[]) => encodeCursor([query, ...parts].join('|'))

const fits = { time: isStoredTime, uuid: (text: string) => uuid.test(text), position: isLogPosition }

/**
 * The parts of a cursor of `query` (`cursorOf`), each checked: one of another query is a 400 saying
 * so, one of this query whose parts are not as it writes them (edited by hand) a 400 "not valid".
 */
export function cursorParts(
  cursor: string | undefined,
  query: string,
  kinds: readonly (keyof typeof fits)[],
): string[] | undefined {
  if (cursor === undefined) return undefined
  const [from, ...parts] = decodeCursor(cursor).split('|')
  if (from !== query)
    throw new ValidationError([{ path: '/cursor', message: 'is not a cursor of this query' }])
  if (parts.length !== kinds.length || !kinds.every((kind, i) => fits[kind](parts[i] ?? '')))
    throw new ValidationError([{ path: '/cursor', message: 'is not a valid cursor' }])
  return parts
}

/** The key a cursor of `query` names (undefined: the first page); one of another query or shape is a 400. */
export function keyAfter(cursor: string | undefined, query: string): TimeKey | undefined {
  const parts = cursorParts(cursor, query, ['time', 'uuid'])
  return parts && { time: parts[0] ?? '', id: parts[1] ?? '' }
}

/** A sorted-set member `<time>|<id>` as the key it holds. */
export function memberKey(member: string): TimeKey {
  const bar = member.indexOf('|')
  return { time: member.slice(0, bar), id: member.slice(bar + 1) }
}

/** The page and the cursor of `query` after it, from rows fetched with one extra. */
export function pageOf<R>(rows: readonly R[], limit: number, key: (row: R) => TimeKey, query: string) {
  const last = rows.length > limit ? rows[limit - 1] : undefined
  const next = last === undefined ? undefined : key(last)
  return { items: rows.slice(0, limit), nextCursor: next ? cursorOf(query, next.time, next.id) : null }
}

/** An index name for a projection's table: the table's own name (without its schema), and a suffix. */
export function indexName(table: string, suffix: string): string {
  const name = table.slice(table.lastIndexOf('.') + 1).replace(/^"|"$/g, '')
  return `"${name}_${suffix}"`
}
