import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Sql, SqlClient } from '../core/sql.js'
import { appendStatement, origin, readFrom, type Checkpoint } from '../storage/event-log.js'
import { migrate } from '../storage/migrations.js'
import { createPglite } from '../storage/pglite.js'
import { writeMigrations } from '../storage/schema.js'
import { sharedReads, type LogRead } from './shared-reads.js'

const metadata = { commandId: 'c', correlationId: 'c', command: 'test/append' }
const types = ['A', 'B', 'C'] as const

// On PGlite only: what is shared sits above `readAfter`, whose reads are checked on both adapters
// (storage/event-log.int.spec.ts); on a PostgreSQL server another test's open transaction holds
// the horizon, and a drain to the end would have to wait for it.
describe('reads of the log shared by a group of runners', () => {
  let sql: Sql
  /** The log's reads sent to the database. */
  let reads = 0
  let source: SqlClient
  let appended = 0

  async function append(type: string, n = 1) {
    await sql.transaction(async (tx) => {
      await tx.commit(
        Array.from({ length: n }, () =>
          appendStatement(
            { id: `s-${appended++}`, expectedVersion: 0 },
            [{ type, data: { n: appended } }],
            metadata,
          ),
        ),
      )
    })
  }

  /** Reads after `from` to the end as a runner does: each batch's events, the checkpoint moved to its end. */
  async function drain(read: LogRead, from: Checkpoint, limit: number) {
    const seen: string[] = []
    let at = from
    let horizon = '0'
    for (;;) {
      const batch = await read(readFrom(at, horizon), limit, performance.now())
      seen.push(...batch.events.map((e) => `${e.type}${(e.data as { n: number }).n}`))
      if ((batch.events.length > 0 || batch.full) && batch.through) at = batch.through
      if (!batch.full) return { seen, at: batch.through ?? at, horizon: (horizon = batch.horizon) }
    }
  }

  beforeAll(async () => {
    sql = await createPglite()
    await migrate(sql, writeMigrations)
    source = {
      query: (text, params) => {
        if (text.includes('tandem.events_after')) reads++
        return sql.query(text, params)
      },
    }
  })
  afterAll(async () => sql.close())

  it('gives each runner the events of its types, in log order, whoever read them', async () => {
    const written: string[] = []
    for (let i = 0; i < 60; i++) {
      const type = types[(i * 7) % 3] as string
      await append(type)
      written.push(`${type}${appended}`)
    }
    const reader = sharedReads(source)
    const runners = [['A'], ['A', 'B'], ['C'], ['B', 'C']].map((own) => ({
      own,
      read: reader('g', own),
    }))
    reads = 0
    // In step: all start together, then each reads on at its own pace.
    const drained = await Promise.all(runners.map((r) => drain(r.read, origin, 7)))
    for (const [i, { own }] of runners.entries()) {
      expect(drained[i]?.seen).toEqual(written.filter((e) => own.includes(e.slice(0, 1))))
    }
    // 60 events, 7 a read: 9 batches, each read once for the four runners (the last, short, by each
    // runner that asked after it was sent).
    expect(reads).toBeLessThanOrEqual(9 + 3)
    // Every runner caught up, none of the batches is kept: one that comes later reads them again.
    reads = 0
    const late = await drain(reader('g', ['A']), origin, 7)
    expect(late.seen).toEqual(written.filter((e) => e.startsWith('A')))
    expect(reads).toBe(9)
  })

  it('reads again for a runner whose step began after a short batch was sent: it may lack what woke it', async () => {
    const { at, horizon } = await drain(sharedReads(source)('h', ['A']), origin, 1000)
    const from = readFrom(at, horizon)
    // Reads that are answered only once released: the first is sent, then an event commits.
    let release: () => void = () => undefined
    const gate = new Promise<void>((resolve) => (release = resolve))
    const slow: SqlClient = {
      query: async (text, params) => {
        const rows = await sql.query(text, params)
        await gate
        return rows as never
      },
    }
    const reader = sharedReads(slow)
    const [first, before, woken] = [reader('h', ['A']), reader('h', ['A']), reader('h', ['A'])]
    const sent = first(from, 1000, performance.now())
    await new Promise((resolve) => setTimeout(resolve, 5))
    // A runner whose step began before that read was sent takes it as it is.
    const joined = before(from, 1000, 0)
    await append('A')
    const again = woken(from, 1000, performance.now())
    release()
    expect((await sent).events).toHaveLength(0)
    expect(await joined).toBe(await sent)
    expect((await again).events.map((e) => e.type)).toEqual(['A'])
  })

  it('holds a runner catching up far ahead of a slower one of its group, so the log is read about once', async () => {
    const { at, horizon } = await drain(sharedReads(source)('p', ['A']), origin, 1000)
    const from = readFrom(at, horizon)
    await append('A', 200)
    const reader = sharedReads(source)
    const fast = reader('p', ['A'])
    const behind = reader('p', ['A'])
    const slow: LogRead = async (...args) => {
      const batch = await behind(...args)
      await new Promise((resolve) => setTimeout(resolve, 3)) // applying it
      return batch
    }
    reads = 0
    const [a, b] = await Promise.all([drain(fast, from, 2), drain(slow, from, 2)])
    expect(a.seen).toHaveLength(200)
    expect(b.seen).toEqual(a.seen)
    // 100 full batches and a short one. Unheld, the fast runner read them all, and the slow one the
    // 36 or so that fell out of the 64 kept before it came: 136-139 reads.
    expect(reads).toBeLessThanOrEqual(120)
  })

  it('moves a runner past a full batch holding none of its events', async () => {
    const reader = sharedReads(source)
    const a = reader('k', ['A'])
    reader('k', ['A', 'B']) // the group reads B too
    const { at, horizon } = await drain(a, origin, 1000)
    await append('B', 5)
    await append('A')
    const from = readFrom(at, horizon)
    const batch = await a(from, 5, performance.now())
    expect(batch.events).toHaveLength(0)
    expect(batch.full).toBe(true)
    expect(batch.through).toBeDefined()
    const next = await a(batch.through as Checkpoint, 5, performance.now())
    expect(next.events.map((e) => e.type)).toEqual(['A'])
    expect(next.full).toBe(false)
  })
})
