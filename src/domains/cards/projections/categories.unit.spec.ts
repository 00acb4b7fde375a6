import { describe, expect, it } from 'vitest'
import { categories, categoryOf, mccRanges } from './categories.js'

describe('categoryOf', () => {
  it('maps codes by the first range that holds them, the rest to other', () => {
    const cases: [string, string][] = [
      ['5411', 'groceries'],
      ['5814', 'dining'],
      ['5812', 'dining'],
      ['4112', 'transport'],
      ['7011', 'travel'],
      ['7512', 'travel'], // car rental, inside the parking and truck codes' span
      ['7523', 'transport'],
      ['5541', 'fuel'],
      ['5968', 'subscriptions'],
      ['5912', 'health'], // a pharmacy, inside retail's span
      ['5311', 'shopping'],
      ['7995', 'entertainment'],
      ['6011', 'cash'],
      ['8220', 'services'],
      ['0742', 'other'],
      ['9999', 'other'],
    ]
    expect(cases.map(([mcc]) => [mcc, categoryOf(mcc)])).toEqual(cases)
  })

  it('names only known categories, in ranges that are not empty', () => {
    for (const [first, last, category] of mccRanges) {
      expect(first).toBeLessThanOrEqual(last)
      expect(categories).toContain(category)
    }
  })
})
