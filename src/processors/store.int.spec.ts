import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { modes, startTestTandem, type TestTandem } from '../kernel/testing.js'
import { processorStore } from './store.js'

describe.each(modes)('processor store (%s)', (mode) => {
  let t: TestTandem
  beforeAll(async () => {
    t = await startTestTandem(mode, { domains: [] })
  })
  afterAll(() => t.dispose())

  it('lists dead letters in log order, positions compared as numbers past a power of ten', async () => {
    const store = processorStore(t.sql)
    const opened = await store.open('test/parking', 1, 'beginning')
    let from = opened.checkpoint
    // Transactions 9, 10 and 100: as text, '10' and '100' sort before '9'.
    for (const n of [9, 10, 100]) {
      const to = { txId: String(n), position: String(n) }
      expect(
        await store.park('test/parking', { from, to }, { eventType: 'Noted', error: 'no', attempts: 1 }),
      ).toBe(true)
      from = to
    }
    const letters = await store.letters('test/parking')
    expect(letters.map((l) => [l.txId, l.position])).toEqual([
      ['9', '9'],
      ['10', '10'],
      ['100', '100'],
    ])
  })
})
