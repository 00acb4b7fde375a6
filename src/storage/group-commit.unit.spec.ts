import { describe, expect, it } from 'vitest'
import type { Row, Statement } from '../core/sql.js'
import { groupCommits } from './group-commit.js'

/**
 * A fake database: a transaction fails if any statement is `fail`, and then, like PostgreSQL, writes
 * nothing; `lost` fails as a lost connection would (outcome unknown). It records what committed.
 */
function fakeDatabase() {
  const sent: string[][] = []
  const committed: string[] = []
  const rolledBack = new WeakSet<object>()
  const commit = async (statements: readonly Statement[]): Promise<Row[][]> => {
    const texts = statements.map((s) => s.text)
    sent.push(texts)
    await Promise.resolve()
    if (texts.includes('lost')) throw new Error('connection lost')
    if (texts.includes('fail')) {
      const error = Object.assign(new Error('duplicate key'), { code: '23505' })
      rolledBack.add(error)
      throw error
    }
    committed.push(...texts)
    return texts.map((text) => [{ text }])
  }
  return { sent, committed, commit, rolledBack: (error: unknown) => rolledBack.has(error as object) }
}

const tx = (...texts: string[]) => texts.map((text) => ({ text }))

describe('group commit', () => {
  it('sends the transactions that meet in one turn as one, in the order of their keys, and gives each its own rows', async () => {
    const db = fakeDatabase()
    const commit = groupCommits({ ...db, maxGroup: 64 })
    const results = await Promise.all([
      commit(tx('c1', 'c2'), { order: 'stream-c' }),
      commit(tx('a1'), { order: 'stream-a' }),
      commit(tx('b1', 'b2', 'b3'), { order: 'stream-b' }),
    ])
    expect(db.sent).toEqual([['a1', 'b1', 'b2', 'b3', 'c1', 'c2']])
    expect(results).toEqual([
      [[{ text: 'c1' }], [{ text: 'c2' }]],
      [[{ text: 'a1' }]],
      [[{ text: 'b1' }], [{ text: 'b2' }], [{ text: 'b3' }]],
    ])
  })

  it('keeps the order of arrival between transactions of one key', async () => {
    const db = fakeDatabase()
    const commit = groupCommits({ ...db, maxGroup: 64 })
    await Promise.all([
      commit(tx('s-first'), { order: 's' }),
      commit(tx('r'), { order: 'r' }),
      commit(tx('s-second'), { order: 's' }),
    ])
    expect(db.sent).toEqual([['r', 's-first', 's-second']])
  })

  it('sends a transaction at once when no other is being decided, and joins those already waiting', async () => {
    const db = fakeDatabase()
    const commit = groupCommits({ ...db, maxGroup: 64 })
    const alone = commit(tx('alone'), { company: false })
    expect(db.sent).toEqual([['alone']]) // already, not at the end of the turn
    await alone
    await Promise.all([
      commit(tx('first'), { order: 'a' }),
      commit(tx('late'), { order: 'b', company: false }),
    ])
    expect(db.sent).toEqual([['alone'], ['first', 'late']])
  })

  it('sends a transaction alone when it meets no other, and each turn its own group', async () => {
    const db = fakeDatabase()
    const commit = groupCommits({ ...db, maxGroup: 64 })
    await commit(tx('one'))
    await Promise.all([commit(tx('two')), commit(tx('three'))])
    expect(db.sent).toEqual([['one'], ['two', 'three']])
  })

  it('splits a turn into groups of at most maxGroup; maxGroup 1 sends each alone', async () => {
    const db = fakeDatabase()
    const sizes: number[] = []
    const commit = groupCommits({ ...db, maxGroup: 2, onSent: (size) => sizes.push(size) })
    await Promise.all(['a', 'b', 'c', 'd', 'e'].map((t) => commit(tx(t), { order: t })))
    expect(db.sent).toEqual([['a', 'b'], ['c', 'd'], ['e']])
    expect(sizes).toEqual([2, 2, 1])

    const alone = fakeDatabase()
    const single = groupCommits({ ...alone, maxGroup: 1 })
    await Promise.all(['a', 'b'].map((t) => single(tx(t), { order: t })))
    expect(alone.sent).toEqual([['a'], ['b']])
  })

  it('when one transaction fails, sends each again alone: the others commit once, the failure comes back to its own', async () => {
    const db = fakeDatabase()
    const commit = groupCommits({ ...db, maxGroup: 64 })
    const outcomes = await Promise.allSettled([
      commit(tx('a'), { order: 'a' }),
      commit(tx('b', 'fail'), { order: 'b' }),
      commit(tx('c'), { order: 'c' }),
    ])
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
    expect((outcomes[1] as PromiseRejectedResult).reason).toMatchObject({ code: '23505' })
    expect(db.sent[0]).toEqual(['a', 'b', 'fail', 'c'])
    expect(db.sent.slice(1).sort()).toEqual([['a'], ['b', 'fail'], ['c']])
    expect(db.committed.sort()).toEqual(['a', 'c'])
  })

  it('when the outcome is unknown (connection lost), fails every transaction of the group and sends none again', async () => {
    const db = fakeDatabase()
    const commit = groupCommits({ ...db, maxGroup: 64 })
    const outcomes = await Promise.allSettled([
      commit(tx('a'), { order: 'a' }),
      commit(tx('lost'), { order: 'b' }),
    ])
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected'])
    expect(db.sent).toEqual([['a', 'lost']])
  })
})
