import { describe, expect, it } from 'vitest'
import {
  cursorOf,
  cursorParts,
  isLogPosition,
  isStoredTime,
  keyAfter,
  laterTime,
  memberKey,
  pageOf,
  storedTime,
} from './keyset.js'

describe('keyset keys', () => {
  it('take a stored time only as stored: UTC with milliseconds, a calendar day, years 0001 to 9999', () => {
    expect(isStoredTime('2031-02-28T23:59:59.999Z')).toBe(true)
    expect(isStoredTime('0001-01-01T00:00:00.000Z')).toBe(true)
    for (const text of [
      '2031-02-30T00:00:00.000Z',
      '0000-01-01T00:00:00.000Z',
      '2031-02-28T23:59:60.000Z',
      '2031-02-28T23:59:59Z',
      '2031-02-28T23:59:59.999+00:00',
    ])
      expect(isStoredTime(text), text).toBe(false)
    expect(storedTime('2031-03-01T09:00:00+09:00', '/at')).toBe('2031-03-01T00:00:00.000Z')
    for (const text of ['0000-12-31T23:59:59Z', '+010000-01-01T00:00:00Z', 'yesterday'])
      expect(() => storedTime(text, '/at'), text).toThrow(
        expect.objectContaining({ status: 400, errors: [expect.objectContaining({ path: '/at' })] }),
      )
  })

  it('cut digits past the millisecond, or round them up for a bound that is the first time in', () => {
    const cases: [string, string, string][] = [
      ['2031-03-01T00:00:00.0265Z', '2031-03-01T00:00:00.026Z', '2031-03-01T00:00:00.027Z'],
      ['2031-03-01T00:00:00.026000Z', '2031-03-01T00:00:00.026Z', '2031-03-01T00:00:00.026Z'],
      ['2031-03-01T00:00:00.026Z', '2031-03-01T00:00:00.026Z', '2031-03-01T00:00:00.026Z'],
      ['2031-03-01T09:00:00.9999999+09:00', '2031-03-01T00:00:00.999Z', '2031-03-01T00:00:01.000Z'],
      ['2031-03-01T00:00:00Z', '2031-03-01T00:00:00.000Z', '2031-03-01T00:00:00.000Z'],
    ]
    for (const [text, cut, ceil] of cases) {
      expect(storedTime(text, '/from'), text).toBe(cut)
      expect(storedTime(text, '/from', 'ceil'), text).toBe(ceil)
    }
  })

  it('take a log position from 1 to 2^63-1', () => {
    expect(isLogPosition('9223372036854775807')).toBe(true)
    for (const text of ['0', '01', '-1', '9223372036854775808', '9999999999999999999', '1e3'])
      expect(isLogPosition(text), text).toBe(false)
  })

  it("read back a cursor's parts, and refuse one of another query or shape", () => {
    const id = '0190b0c0-0000-7000-8000-000000000001'
    const cursor = cursorOf('recent', '2031-03-01T00:00:00.000Z', id)
    expect(cursorParts(cursor, 'recent', ['time', 'uuid'])).toEqual(['2031-03-01T00:00:00.000Z', id])
    expect(cursorParts(undefined, 'recent', ['time'])).toBeUndefined()
    const refused = (message: string): unknown =>
      expect.objectContaining({ status: 400, errors: [{ path: '/cursor', message }] })
    expect(() => cursorParts(cursor, 'other', ['time', 'uuid'])).toThrow(
      refused('is not a cursor of this query'),
    )
    // One of this query whose parts are not as it writes them (edited) is not valid, whatever the edit.
    for (const kinds of [['time'], ['uuid', 'uuid'], ['position', 'uuid']] as const)
      expect(() => cursorParts(cursor, 'recent', kinds)).toThrow(refused('is not a valid cursor'))
    for (const edited of [
      cursorOf('recent', 'zzzz', id),
      cursorOf('recent', '2031-03-01T00:00:00.000Z', id.toUpperCase()),
      cursorOf('recent', '2031-03-01T00:00:00.000Z', id, 'extra'),
      cursorOf('recent', '2031-03-01T00:00:00.000+00:00', id),
    ])
      expect(() => cursorParts(edited, 'recent', ['time', 'uuid'])).toThrow(refused('is not a valid cursor'))
  })

  it('page by time and id: the cursor after a full page names its query and the last key shown', () => {
    const rows = ['2031-03-01T00:00:03.000Z', '2031-03-01T00:00:02.000Z', '2031-03-01T00:00:01.000Z'].map(
      (time, i) => `${time}|0190b0c0-0000-7000-8000-00000000000${i}`,
    )
    const page = pageOf(rows, 2, memberKey, 'list-things')
    expect(page.items).toEqual(rows.slice(0, 2))
    expect(keyAfter(page.nextCursor ?? undefined, 'list-things')).toEqual(memberKey(rows[1] ?? ''))
    expect(() => keyAfter(page.nextCursor ?? undefined, 'list-others')).toThrow(
      expect.objectContaining({ status: 400, errors: [expect.objectContaining({ path: '/cursor' })] }),
    )
    expect(pageOf(rows, 3, memberKey, 'list-things').nextCursor).toBeNull()
    expect(keyAfter(undefined, 'list-things')).toBeUndefined()
  })
})

describe('laterTime', () => {
  it('orders two times to the digit past the millisecond, whatever their offsets', () => {
    expect(laterTime('2031-01-02T00:00:00Z', '2031-01-01T00:00:00Z')).toBe(true)
    expect(laterTime('2031-01-01T00:00:00.0009Z', '2031-01-01T00:00:00.0001Z')).toBe(true)
    expect(laterTime('2031-01-01T00:00:00.0001Z', '2031-01-01T00:00:00.0009Z')).toBe(false)
    expect(laterTime('2031-01-01T00:00:00.000Z', '2031-01-01T00:00:00Z')).toBe(false)
    expect(laterTime('2031-01-01T09:00:00.001+09:00', '2031-01-01T00:00:00Z')).toBe(true)
    expect(laterTime('2031-01-01T09:00:00+09:00', '2031-01-01T00:00:00.001Z')).toBe(false)
  })
})
