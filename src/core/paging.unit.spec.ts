import { describe, expect, it } from 'vitest'
import { cursorAfter, decodeCursor, encodeCursor } from './paging.js'

const key = '2031-02-10T18:00:00.000Z|0190a0d0-0000-7000-8000-000000000001'

describe('paging cursors', () => {
  it('give back the key they were made from', () => {
    expect(decodeCursor(encodeCursor(key))).toBe(key)
    expect(decodeCursor(encodeCursor('é|ü'))).toBe('é|ü')
  })

  it('are refused with 400 VALIDATION_FAILED on /cursor when tampered with', () => {
    const cursor = encodeCursor(key)
    const tampered = {
      empty: '',
      padded: `${cursor}=`,
      'not base64url': `${cursor.slice(0, -1)}!`,
      'standard base64': Buffer.from(`${key}??>`).toString('base64'),
      'not the form this API gives out': 'YR', // decodes to "a", which encodes as "YQ"
      'not UTF-8': '_w',
    }
    for (const [what, text] of Object.entries(tampered)) {
      expect(() => decodeCursor(text), what).toThrow(
        expect.objectContaining({
          code: 'VALIDATION_FAILED',
          status: 400,
          errors: [expect.objectContaining({ path: '/cursor' })],
        }),
      )
    }
  })

  it('follow a page only when more keys were fetched than the page holds', () => {
    expect(cursorAfter(['a', 'b', 'c'], 2)).toBe(encodeCursor('b'))
    expect(cursorAfter(['a', 'b'], 2)).toBeNull()
    expect(cursorAfter(['a'], 2)).toBeNull()
    expect(cursorAfter([], 2)).toBeNull()
  })
})
