import { describe, expect, it } from 'vitest'
import { searchForm } from './schemas.js'

describe('searchForm', () => {
  it('gives text that differs only in case, composition or a letter’s final form one form', () => {
    const same = [
      ['Café', 'CAFE\u0301', 'cafe\u0301'],
      ['Straße', 'STRASSE', 'STRAẞE', 'strasse'],
      ['ΟΔΥΣΣΕΥΣ', 'οδυσσευς', 'Οδυσσευσ'],
      ['İstanbul', 'ISTANBUL', 'istanbul'],
      ['ﬁle', 'FILE'],
    ]
    for (const forms of same)
      expect(new Set(forms.map(searchForm)), forms.join(' ')).toHaveProperty('size', 1)
  })

  it('keeps what differs', () => {
    expect(searchForm('cafe')).not.toBe(searchForm('café'))
    expect(searchForm('σ')).not.toBe(searchForm('s'))
    expect(searchForm('100% _x\\')).toBe('100% _x\\')
  })
})
