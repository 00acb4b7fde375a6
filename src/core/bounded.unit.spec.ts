import { describe, expect, it } from 'vitest'
import { trimOldest } from './bounded.js'

describe('trimOldest', () => {
  it('leaves a collection at or under its limit alone', () => {
    const kept = new Set([1, 2, 3])
    trimOldest(kept, 3)
    expect([...kept]).toEqual([1, 2, 3])
  })

  it('past the limit, drops the oldest down to nine tenths of it, newest kept', () => {
    const kept = new Map<number, string>()
    for (let i = 1; i <= 21; i++) {
      kept.set(i, `v${i}`)
      trimOldest(kept, 20)
      expect(kept.size).toBeLessThanOrEqual(20)
    }
    expect([...kept.keys()]).toEqual([4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21])
  })

  it('drops by insertion order: an entry moved to the end (deleted, set again) is kept longest', () => {
    const kept = new Map([
      ['a', 1],
      ['b', 2],
      ['c', 3],
    ])
    kept.delete('a')
    kept.set('a', 1)
    kept.set('d', 4)
    trimOldest(kept, 3)
    expect([...kept.keys()]).toEqual(['c', 'a', 'd'])
  })
})
