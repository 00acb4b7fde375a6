import { describe, expect, it } from 'vitest'
import { bodyProblems, roundedToWhole, tooComplex } from './json-keys.js'

const bodyProblem = (text: string) => bodyProblems(text)[0]

const duplicateKey = (text: string) => {
  const problem = bodyProblem(text)
  return problem?.message === 'is named twice in its object' ? problem.path : undefined
}

describe('bodyProblem: keys named twice', () => {
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

describe('bodyProblem: numbers JavaScript would round to a whole one', () => {
  it('finds them by their JSON Pointer, with the value they would be read as', () => {
    expect(bodyProblem('{"items":[{"unitPrice":1},{"unitPrice":1.0000000000000001}]}')).toEqual({
      path: '/items/1/unitPrice',
      message: 'is not a whole number, but would be read as 1',
    })
    expect(bodyProblem('{"amount":1e-400}')?.path).toBe('/amount')
    expect(bodyProblem('[5, -1e-400]')?.path).toBe('/1')
    expect(bodyProblem('{"a":{"b":123456789012345678.5}}')?.path).toBe('/a/b')
  })

  it('passes whole numbers in any spelling, and numbers read as what they are', () => {
    for (const text of [
      '{"amount":100.0,"b":1E2,"c":0.1e1,"d":-0,"e":0.0e-5,"f":2500e-2,"g":12.5,"h":0.1,"i":1e400}',
      '{"amount":"1.0000000000000001"}',
      '[1.5e1, 15000e-3, 9007199254740993]',
    ])
      expect(bodyProblem(text), text).toBeUndefined()
  })

  it('names every one, up to twenty, with keys named twice among them, in text order', () => {
    expect(
      bodyProblems('{"a":1e-400,"b":{"c":1,"c":2},"d":[0.1,1.0000000000000001]}').map((p) => p.path),
    ).toEqual(['/a', '/b/c', '/d/1'])
    expect(bodyProblems(`[${Array(30).fill('1e-400').join(',')}]`)).toHaveLength(20)
  })

  it('reads a number of a million digits in one pass', () => {
    // A regex trimming its zeros took quadratic time: such a body held the process for minutes.
    const zeros = '0'.repeat(1_000_000)
    expect(bodyProblem(`{"capacity":1.${zeros}1}`)?.path).toBe('/capacity')
    expect(bodyProblem(`{"capacity":1${zeros}1e-3}`)).toBeUndefined()
    expect(bodyProblem(`{"capacity":1.${zeros}}`)).toBeUndefined()
    expect(roundedToWhole(`1${zeros}e-1000000`)).toBe(false)
    expect(roundedToWhole(`1${zeros}e-1000001`)).toBe(false)
  })

  it('tells a whole number from one that is not by its digits, not by what JavaScript makes of it', () => {
    const whole = ['0', '7', '-12', '100.0', '1E2', '0.1e1', '2500e-2', '1.000e3', '0e-999', '120e-1']
    const notWhole = ['0.5', '1.25', '1e-1', '125e-2', '1.0000000000000001', '1e-400', '9.999999999999999999']
    for (const literal of whole) expect(roundedToWhole(literal), literal).toBe(false)
    // Of those that are not whole, only the ones JavaScript rounds to a whole number are reported.
    expect(notWhole.filter(roundedToWhole)).toEqual(['1.0000000000000001', '1e-400', '9.999999999999999999'])
  })
})

describe('tooComplex', () => {
  const nestsDeeper = (text: string, max?: number) => tooComplex(text, max)?.startsWith('nests') === true
  it('counts the levels of objects and arrays, not brackets inside strings', () => {
    expect(nestsDeeper('[[[1]]]', 3)).toBe(false)
    expect(nestsDeeper('[[[[1]]]]', 3)).toBe(true)
    expect(nestsDeeper('{"a":{"b":[{}]}}', 4)).toBe(false)
    expect(nestsDeeper('{"a":{"b":[{}]}}', 3)).toBe(true)
    expect(nestsDeeper('["[[[[[", "\\\\"]', 1)).toBe(false)
    expect(nestsDeeper('[1],[2],[3]', 1)).toBe(false)
  })

  it('reads a body of half a million levels in one pass, and stops at the bound', () => {
    const deep = `${'['.repeat(524_000)}${']'.repeat(524_000)}`
    expect(tooComplex(deep)).toBe('nests deeper than 64 levels')
    expect(tooComplex(`${'['.repeat(64)}${']'.repeat(64)}`)).toBeUndefined()
  })

  it('counts values, not commas inside strings', () => {
    expect(tooComplex('[1,2]', 64, 3)).toBeUndefined() // the array and its two numbers
    expect(tooComplex('[1,2,3]', 64, 3)).toBe('holds more than 3 values')
    expect(tooComplex('{"a":"x,y,z,w"}', 64, 3)).toBeUndefined()
    const keys = `{${Array.from({ length: 10_001 }, (_, i) => `"k${i}":1`).join(',')}}`
    expect(tooComplex(keys)).toBe('holds more than 10000 values')
  })
})
