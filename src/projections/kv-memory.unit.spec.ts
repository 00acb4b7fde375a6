import { describe, expect, it } from 'vitest'
import type { KvOp, LexRange } from '../core/read-stores.js'
import { compareBytes, createMemoryKv } from './kv-memory.js'
import type { KvStore } from './kv.js'

/** The memory KV must answer as Redis does for the commands Tandem uses. */

const checkpoint = (expected: string | null, next: string) => ({ key: 'checkpoint', expect: expected, next })

async function storeWith(ops: readonly KvOp[]): Promise<KvStore> {
  const kv = createMemoryKv()
  expect(await kv.commit(ops, checkpoint(null, '1'))).toBe(true)
  return kv
}

/** A lex set of members all at score 0, added out of order. */
const letters = ['d', 'b', 'e', 'a', 'c', 'ab']
const lexSet = () => storeWith(letters.map((m): KvOp => ['zadd', 'z', 0, m]))
const range = (min: LexRange['min'], max: LexRange['max'], extra: Partial<LexRange> = {}): LexRange => ({
  min,
  max,
  count: 100,
  ...extra,
})

describe('memory KV sorted sets', () => {
  it('lists members in byte order between - and +', async () => {
    const kv = await lexSet()
    expect(await kv.zrangeByLex('z', range('-', '+'))).toEqual(['a', 'ab', 'b', 'c', 'd', 'e'])
  })

  it('treats [ as an inclusive bound and ( as an exclusive one', async () => {
    const kv = await lexSet()
    expect(await kv.zrangeByLex('z', range('[b', '[d'))).toEqual(['b', 'c', 'd'])
    expect(await kv.zrangeByLex('z', range('(b', '(d'))).toEqual(['c'])
    expect(await kv.zrangeByLex('z', range('(a', '[b'))).toEqual(['ab', 'b'])
    expect(await kv.zrangeByLex('z', range('[a', '(ab'))).toEqual(['a'])
  })

  it('accepts bounds that are not members', async () => {
    const kv = await lexSet()
    expect(await kv.zrangeByLex('z', range('[bb', '[dd'))).toEqual(['c', 'd'])
    expect(await kv.zrangeByLex('z', range('(0', '(b'))).toEqual(['a', 'ab'])
  })

  it('answers nothing for an empty or inverted range, or an unknown key', async () => {
    const kv = await lexSet()
    expect(await kv.zrangeByLex('z', range('(c', '(c'))).toEqual([])
    expect(await kv.zrangeByLex('z', range('[d', '[b'))).toEqual([])
    expect(await kv.zrangeByLex('z', range('+', '-'))).toEqual([])
    expect(await kv.zrangeByLex('z', range('[f', '+'))).toEqual([])
    expect(await kv.zrangeByLex('nothing', range('-', '+'))).toEqual([])
  })

  it('stops after count members', async () => {
    const kv = await lexSet()
    expect(await kv.zrangeByLex('z', range('(a', '+', { count: 2 }))).toEqual(['ab', 'b'])
  })

  it('walks from max down to min in reverse, honouring bounds and count', async () => {
    const kv = await lexSet()
    expect(await kv.zrangeByLex('z', range('-', '+', { reverse: true }))).toEqual([
      'e',
      'd',
      'c',
      'b',
      'ab',
      'a',
    ])
    expect(await kv.zrangeByLex('z', range('[b', '(e', { reverse: true }))).toEqual(['d', 'c', 'b'])
    expect(await kv.zrangeByLex('z', range('(a', '[d', { reverse: true, count: 2 }))).toEqual(['d', 'c'])
    expect(await kv.zrangeByLex('z', range('-', '(ab', { reverse: true }))).toEqual(['a'])
  })

  it('keeps one copy of a member added twice, and forgets a removed one', async () => {
    const kv = await storeWith([
      ['zadd', 'z', 0, 'b'],
      ['zadd', 'z', 0, 'a'],
      ['zadd', 'z', 0, 'b'],
      ['zadd', 'z', 0, 'c'],
      ['zrem', 'z', 'a'],
      ['zrem', 'z', 'not-there'],
    ])
    expect(await kv.zrangeByLex('z', range('-', '+'))).toEqual(['b', 'c'])
    expect(await kv.zcard('z')).toBe(2)
    expect(await kv.zrank('z', 'a')).toBeNull()
  })

  it('ranks members by score, then by member, from 0', async () => {
    const kv = await storeWith([
      ['zadd', 'w', 7, 'a'],
      ['zadd', 'w', 3, 'z'],
      ['zadd', 'w', 3, 'm'],
      ['zadd', 'w', 10, 'b'],
    ])
    expect(await Promise.all(['m', 'z', 'a', 'b'].map((m) => kv.zrank('w', m)))).toEqual([0, 1, 2, 3])
    expect(await kv.zrank('w', 'missing')).toBeNull()
    expect(await kv.zrank('no-such-set', 'a')).toBeNull()
  })

  it('moves a member re-added with another score', async () => {
    const kv = await storeWith([
      ['zadd', 'w', 1, 'a'],
      ['zadd', 'w', 2, 'b'],
      ['zadd', 'w', 3, 'c'],
      ['zadd', 'w', 4, 'a'],
    ])
    expect(await kv.zrank('w', 'a')).toBe(2)
    expect(await kv.zrank('w', 'b')).toBe(0)
    expect(await kv.zcard('w')).toBe(3)
  })

  it('ranks scores numerically, not as text', async () => {
    const kv = await storeWith([
      ['zadd', 'w', 10, 'ten'],
      ['zadd', 'w', 9, 'nine'],
    ])
    expect(await kv.zrank('w', 'nine')).toBe(0)
  })
})

describe('memory KV strings and sets', () => {
  it('sets, reads and deletes strings, answering null for what is absent', async () => {
    const kv = await storeWith([
      ['set', 'a', '1'],
      ['set', 'b', '2'],
      ['set', 'a', '3'],
      ['del', 'b'],
    ])
    expect(await kv.get('a')).toBe('3')
    expect(await kv.mget(['a', 'b', 'c'])).toEqual(['3', null, null])
  })

  it('adds and removes set members once each', async () => {
    const kv = await storeWith([
      ['sadd', 's', 'x'],
      ['sadd', 's', 'y'],
      ['sadd', 's', 'x'],
      ['srem', 's', 'y'],
    ])
    expect(await kv.smembers('s')).toEqual(['x'])
    expect(await kv.smembers('none')).toEqual([])
  })

  it('deletes a key of any kind with del', async () => {
    const kv = await storeWith([
      ['sadd', 's', 'x'],
      ['zadd', 'z', 0, 'x'],
      ['del', 's'],
      ['del', 'z'],
    ])
    expect(await kv.smembers('s')).toEqual([])
    expect(await kv.zcard('z')).toBe(0)
  })
})

describe('memory KV commit', () => {
  it('applies a batch when the checkpoint is absent and null was expected', async () => {
    const kv = createMemoryKv()
    expect(await kv.commit([['set', 'a', '1']], checkpoint(null, 'c1'))).toBe(true)
    expect(await kv.get('a')).toBe('1')
    expect(await kv.get('checkpoint')).toBe('c1')
  })

  it('moves on from the checkpoint it holds', async () => {
    const kv = createMemoryKv()
    await kv.commit([], checkpoint(null, 'c1'))
    expect(await kv.commit([['set', 'a', '2']], checkpoint('c1', 'c2'))).toBe(true)
    expect(await kv.get('checkpoint')).toBe('c2')
    expect(await kv.get('a')).toBe('2')
  })

  it('refuses, applying nothing, when the checkpoint is not the one expected', async () => {
    const kv = await storeWith([['set', 'a', 'before']])
    const batch: KvOp[] = [
      ['set', 'a', 'after'],
      ['sadd', 's', 'x'],
      ['zadd', 'z', 0, 'x'],
    ]
    expect(await kv.commit(batch, checkpoint('0', '2'))).toBe(false)
    expect(await kv.commit(batch, checkpoint(null, '2'))).toBe(false)
    expect(await kv.get('a')).toBe('before')
    expect(await kv.smembers('s')).toEqual([])
    expect(await kv.zcard('z')).toBe(0)
    expect(await kv.get('checkpoint')).toBe('1')
  })

  it('refuses an expected checkpoint when the key is absent', async () => {
    const kv = createMemoryKv()
    expect(await kv.commit([['set', 'a', '1']], checkpoint('c1', 'c2'))).toBe(false)
    expect(await kv.get('a')).toBeNull()
    expect(await kv.get('checkpoint')).toBeNull()
  })
})

describe('memory KV deletePrefix', () => {
  it('removes strings, sets and sorted sets under the prefix and nothing else', async () => {
    const kv = await storeWith([
      ['set', 'p:g1:a', '1'],
      ['sadd', 'p:g1:s', 'x'],
      ['zadd', 'p:g1:z', 0, 'x'],
      ['set', 'p:g2:a', '2'],
      ['zadd', 'p:g2:z', 0, 'y'],
      ['set', 'p:g1', 'not under the prefix'],
    ])
    await kv.deletePrefix('p:g1:')
    expect(await kv.mget(['p:g1:a', 'p:g2:a', 'p:g1'])).toEqual([null, '2', 'not under the prefix'])
    expect(await kv.smembers('p:g1:s')).toEqual([])
    expect(await kv.zcard('p:g1:z')).toBe(0)
    expect(await kv.zrangeByLex('p:g2:z', range('-', '+'))).toEqual(['y'])
  })
})

describe('compareBytes', () => {
  it('orders strings as their UTF-8 bytes compare, as Redis does', () => {
    const alphabet = [
      'a',
      'z',
      '\u00e9',
      '\uac00',
      '\ud7ff',
      '\ue000',
      '\uffff',
      '\u{10000}',
      '\u{1f600}',
      '\u{10ffff}',
    ]
    const words: string[] = []
    for (const x of alphabet) for (const y of alphabet) words.push(x + y, x)
    for (const a of words) {
      for (const b of words) {
        expect(Math.sign(compareBytes(a, b)), JSON.stringify([a, b])).toBe(
          Buffer.compare(Buffer.from(a), Buffer.from(b)),
        )
      }
    }
  })
})
