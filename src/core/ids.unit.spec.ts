import { describe, expect, it } from 'vitest'
import { uuidv7 } from './ids.js'

describe('uuidv7', () => {
  it('is a version-7, RFC-variant UUID carrying the time in its first 48 bits', () => {
    const at = Date.UTC(2031, 0, 2, 3, 4, 5, 678)
    const id = uuidv7(at)
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(at)
  })

  it('sorts by creation time across milliseconds, and does not repeat', () => {
    const ids = Array.from({ length: 1000 }, (_, i) => uuidv7(1_900_000_000_000 + i))
    expect([...ids].sort()).toEqual(ids)
    expect(new Set(Array.from({ length: 10_000 }, () => uuidv7())).size).toBe(10_000)
  })
})

describe('uuidv7 within one millisecond', () => {
  it('sorts in the order made, so a newest-first list of one millisecond is stable', () => {
    const at = Date.UTC(2032, 5, 6, 7, 8, 9, 10)
    const ids = Array.from({ length: 2000 }, () => uuidv7(at))
    expect([...ids].sort()).toEqual(ids)
    expect(new Set(ids).size).toBe(2000)
    for (const id of ids) expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(at)
  })
})
