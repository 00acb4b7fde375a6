import Type from 'typebox'
import { ValidationError } from './errors.js'

/** Keyset paging: a cursor is the opaque form of the last key a page ended at. */

export const Limit = Type.Integer({
  minimum: 1,
  maximum: 100,
  default: 20,
  description: 'Page size (at most 100)',
})

export function encodeCursor(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url')
}

export function decodeCursor(cursor: string): string {
  const key = Buffer.from(cursor, 'base64url').toString('utf8')
  if (key.length === 0 || encodeCursor(key) !== cursor) {
    throw new ValidationError([{ path: '/cursor', message: 'is not a valid cursor' }])
  }
  return key
}

/** The cursor after a page, given the page's keys fetched with one extra: null when nothing follows. */
export function cursorAfter(keys: readonly string[], limit: number): string | null {
  const last = keys[limit - 1]
  return keys.length > limit && last !== undefined ? encodeCursor(last) : null
}
