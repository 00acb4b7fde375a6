import { ValidationError } from './errors.js'
import { cursorAfter, decodeCursor } from './paging.js'

/**
 * Keyset paging over (time, id), newest first, for SQL read models: a cursor is the opaque form of
 * `<time>|<id>` of the last row of a page. Times are ISO text in UTC (columns COLLATE "C"), so they
 * sort as text; a row added or deleted between pages moves no other row across a page edge.
 */
export interface TimeKey {
  time: string
  id: string
}

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** The key a cursor names (undefined: the first page); a cursor that is not one is a 400. */
export function keyAfter(cursor: string | undefined): TimeKey | undefined {
  if (cursor === undefined) return undefined
  const [time = '', id = '', ...rest] = decodeCursor(cursor).split('|')
  if (rest.length > 0 || Number.isNaN(Date.parse(time)) || !uuid.test(id)) {
    throw new ValidationError([{ path: '/cursor', message: 'is not a valid cursor' }])
  }
  return { time, id }
}

/** The page and the cursor after it, from rows fetched with one extra. */
export function pageOf<R>(rows: readonly R[], limit: number, key: (row: R) => TimeKey) {
  const keys = rows.map((row) => `${key(row).time}|${key(row).id}`)
  return { items: rows.slice(0, limit), nextCursor: cursorAfter(keys, limit) }
}

/** An index name for a projection's table: the table's own name (without its schema), and a suffix. */
export function indexName(table: string, suffix: string): string {
  const name = table.slice(table.lastIndexOf('.') + 1).replace(/^"|"$/g, '')
  return `"${name}_${suffix}"`
}
