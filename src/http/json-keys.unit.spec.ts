import { describe, expect, it } from 'vitest'
import { duplicateKey } from './json-keys.js'

describe('duplicateKey', () => {
  it('finds a key named twice in an object, at any depth, by its JSON Pointer', () => {
    expect(duplicateKey('{"title":"a","title":"b"}')).toBe('/title')
    expect(duplicateKey('{"items":[{"q":1},{"q":1,"p":2,"q":3}]}')).toBe('/items/1/q')
    expect(duplicateKey('{"a":{"b":{"c":1}},"d":{"c":1,"c":2}}')).toBe('/d/c')
    expect(duplicateKey('{"a/b~":1,"a/b~":2}')).toBe('/a~1b~0')
  })

  it('counts escaped spellings of one key as that key', () => {
    expect(duplicateKey('{"a":1,"\\u0061":2}')).toBe('/a')
    expect(duplicateKey('{"q\\"":1,"q\\u0022":2}')).toBe('/q"')
  })

  it('passes objects whose keys differ, and keys repeated in other objects, strings or arrays', () => {
    for (const text of [
      '{}',
      '[]',
      '"title"',
      '{"a":1,"b":{"a":1},"c":[{"a":1},{"a":2}]}',
      '{"a":"{\\"a\\":1,\\"a\\":2}","b":"\\\\"}',
      '{"a":[1,[2,{"a":3}],{"b":4}],"b":null}',
      '{"é":1,"e\\u0301":2}',
      ' { "a" : 1 , "b" : [ "a" , "a" ] } ',
    ])
      expect(duplicateKey(text), text).toBeUndefined()
  })

  it('agrees with a count of the keys each object keeps, over random nested bodies', () => {
    let seed = 7
    const random = (n: number) => {
      seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0
      return (seed >>> 8) % n
    }
    const keys = ['a', 'b', 'c', 'a\\"', '\\u0061', 'x/y', '']
    let duplicates = 0
    function value(depth: number): { text: string; dup: boolean } {
      const kind = depth > 3 ? 2 : random(4)
      if (kind === 0) {
        const members = Array.from({ length: random(4) }, () => ({
          key: keys[random(keys.length)] ?? 'a',
          ...value(depth + 1),
        }))
        const seen = new Set(members.map((m) => JSON.parse(`"${m.key}"`) as string))
        const dup = seen.size < members.length || members.some((m) => m.dup)
        return { text: `{${members.map((m) => `"${m.key}":${m.text}`).join(',')}}`, dup }
      }
      if (kind === 1) {
        const items = Array.from({ length: random(4) }, () => value(depth + 1))
        return { text: `[${items.map((v) => v.text).join(',')}]`, dup: items.some((v) => v.dup) }
      }
      return { text: JSON.stringify(['"{,}"', 1, null, 'a":1,"a'][random(4)]), dup: false }
    }
    for (let n = 0; n < 2_000; n++) {
      const { text, dup } = value(0)
      JSON.parse(text)
      expect(duplicateKey(text) !== undefined, text).toBe(dup)
      if (dup) duplicates++
    }
    expect(duplicates).toBeGreaterThan(100)
  })
})
