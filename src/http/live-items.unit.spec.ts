import { describe, expect, it } from 'vitest'
import type { Tandem } from '../app/tandem.js'
import type { AnyQuery } from '../core/messages.js'
import { getNote } from '../testing/notes-domain/projections.js'
import { sentKeys } from './live-items.js'
import { liveHandler } from './live.js'

describe("an item stream's memory of the keys it sent", () => {
  it('holds a key sent out of order, not only the greatest', () => {
    const sent = sentKeys('')
    sent.add('b')
    expect(sent.has('a')).toBe(false)
    sent.add('a')
    expect([sent.has('a'), sent.has('b'), sent.has('c')]).toEqual([true, true, false])
  })

  it('counts every key up to its floor as sent', () => {
    const sent = sentKeys('m')
    expect([sent.has('a'), sent.has('m'), sent.has('n')]).toEqual([true, true, false])
  })

  it('raises its floor past the keys sent long enough ago that nothing below them is still to commit', () => {
    let now = 0
    const sent = sentKeys('', 100, 10_000, () => now)
    sent.add('k5')
    now = 4_000
    sent.add('k3')
    sent.add('k9')
    now = 10_000
    sent.settle()
    // k5 settled: the floor is k5, and k4 below it counts as sent; k3 and k9 are still their own.
    expect(sent.floor()).toBe('k5')
    expect([sent.has('k4'), sent.has('k6'), sent.has('k3'), sent.has('k9')]).toEqual([
      true,
      false,
      true,
      true,
    ])
    now = 14_000
    sent.settle()
    expect(sent.floor()).toBe('k9')
  })

  describe('when it holds more keys than it remembers', () => {
    it('forgets the oldest added and raises its floor to it, so a forgotten key is never sent again', () => {
      const sent = sentKeys('', 2)
      for (const key of ['k1', 'k3', 'k4']) sent.add(key)
      // k1 is forgotten: it and anything below it now count as sent; k2, above the floor, does not.
      expect([sent.has('k0'), sent.has('k1'), sent.has('k2'), sent.has('k3'), sent.has('k4')]).toEqual([
        true,
        true,
        false,
        true,
        true,
      ])
    })
  })
})

describe('skipping keys a refresh could not read down to', () => {
  it('counts every key up to the one given as sent, and raises the floor to it', () => {
    const sent = sentKeys('')
    for (const key of ['b', 'd', 'f']) sent.add(key)
    sent.skipTo('d')
    expect(sent.floor()).toBe('d')
    expect(['a', 'c', 'd', 'e', 'f', 'g'].map((key) => sent.has(key))).toEqual([
      true,
      true,
      true,
      false,
      true,
      false,
    ])
  })
})

describe('declaring an item stream', () => {
  it('is refused, at registration, on a query whose answer is not a page', () => {
    const definition = { ...getNote, live: { itemKey: () => 'x' } } as unknown as AnyQuery
    expect(() => liveHandler({} as Tandem, definition)).toThrow(/get-note streams items .* not a page/)
  })
})
