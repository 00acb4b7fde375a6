import { describe, expect, it } from 'vitest'
import { auditReads, summarize, type AuditEntry, type AuditSink } from '../core/audit.js'
import { silentLogger } from '../core/logger.js'
import type { QueryCall } from '../core/query-bus.js'
import type { Sql, SqlClient } from '../core/sql.js'
import { createAuditWriter } from './audit-log.js'

const entry = (n: number): AuditEntry => ({
  id: `00000000-0000-7000-8000-${String(n).padStart(12, '0')}`,
  at: new Date('2031-01-01T00:00:00.000Z'),
  kind: 'read',
  domain: 'd',
  action: 'd/q',
  actorId: 'a',
  actorRoles: [],
  outcome: 'read',
  status: null,
  code: null,
  subjectId: 's',
  subjectIds: ['s'],
  commandId: null,
  correlationId: null,
  replayed: false,
  details: {},
})

/** The writer's port over a fake database: each insert in a transaction of its own. */
const inTransactions = (client: SqlClient): Pick<Sql, 'transaction'> => ({
  transaction: (fn) => fn({ query: (text, params) => client.query(text, params), commit: async () => [] }),
})

/** A database that records each insert's entry count, failing while `down` is set. */
function fakeSql() {
  const inserts: number[] = []
  const state = { down: false }
  const sql: SqlClient = {
    async query(_text, params) {
      if (state.down) throw new Error('database away')
      inserts.push((JSON.parse(String(params?.[0])) as unknown[]).length)
      return []
    },
  }
  return { sql, inserts, state }
}

describe('the audit writer', () => {
  it('writes what it buffers in batches, at most batchSize per insert, and none while nothing waits', async () => {
    const { sql, inserts } = fakeSql()
    const writer = createAuditWriter({
      sql: inTransactions(sql),
      log: silentLogger,
      batchSize: 500,
      delayMs: 10_000,
    })
    for (let n = 0; n < 1200; n++) writer.record(entry(n))
    await writer.flush()
    expect(inserts).toEqual([500, 500, 200])
    await writer.flush()
    expect(inserts).toEqual([500, 500, 200])
    expect(writer.pending).toBe(0)
    await writer.close()
  })

  it('keeps a batch that failed and writes it once the database answers, dropping the oldest past its bound', async () => {
    const { sql, inserts, state } = fakeSql()
    const writer = createAuditWriter({
      sql: inTransactions(sql),
      log: silentLogger,
      batchSize: 10,
      maxPending: 25,
      delayMs: 10_000,
    })
    state.down = true
    for (let n = 0; n < 30; n++) writer.record(entry(n))
    await writer.flush()
    expect(writer.pending).toBe(25)
    state.down = false
    await writer.close()
    expect(inserts).toEqual([10, 10, 5])
    expect(writer.pending).toBe(0)
  })
  it('answers an entry awaited once its insert is done: the first at once, those arriving meanwhile together', async () => {
    const { sql, inserts } = fakeSql()
    const writer = createAuditWriter({
      sql: inTransactions(sql),
      log: silentLogger,
      batchSize: 500,
      delayMs: 10_000,
    })
    // Not the reads' delay: the first insert starts at once.
    await writer.written(entry(0))
    expect(inserts).toEqual([1])
    // A hundred that arrive together share one insert.
    await Promise.all(Array.from({ length: 100 }, (_, n) => writer.written(entry(n + 1))))
    expect(inserts).toEqual([1, 100])
    expect(writer.pending).toBe(0)
    await writer.close()
  })

  it('writes an entry awaited in the first insert, ahead of a backlog of reads', async () => {
    const inserts: string[][] = []
    const sql: SqlClient = {
      async query(_text, params) {
        inserts.push((JSON.parse(String(params?.[0])) as { id: string }[]).map((e) => e.id))
        return []
      },
    }
    const writer = createAuditWriter({
      sql: inTransactions(sql),
      log: silentLogger,
      batchSize: 500,
      delayMs: 10_000,
    })
    for (let n = 0; n < 1200; n++) writer.record(entry(n))
    await writer.written(entry(9999))
    await writer.flush()
    expect(inserts.map((ids) => ids.length)).toEqual([500, 500, 201])
    expect(inserts[0]?.[0]).toBe(entry(9999).id)
    await writer.close()
  })

  it('answers the entries awaited when their insert fails, and writes them once the database answers', async () => {
    const { sql, inserts, state } = fakeSql()
    let attempts = 0
    const counted: SqlClient = { query: (text, params) => (attempts++, sql.query(text, params)) }
    const writer = createAuditWriter({ sql: inTransactions(counted), log: silentLogger, delayMs: 10_000 })
    state.down = true
    await Promise.all([writer.written(entry(1)), writer.written(entry(2))])
    expect(attempts).toBe(1)
    // Right after a failure, more are kept and answered without another attempt each.
    await Promise.all(Array.from({ length: 100 }, (_, n) => writer.written(entry(n + 3))))
    expect(attempts).toBe(1)
    expect(writer.pending).toBe(102)
    state.down = false
    await writer.flush()
    expect(inserts).toEqual([102])
    await writer.close()
  })

  it('writes every entry once and in order, a backlog too, when an insert in the middle fails', async () => {
    const written: string[] = []
    let calls = 0
    const sql: SqlClient = {
      async query(_text, params) {
        if (++calls === 2) throw new Error('database away')
        written.push(...(JSON.parse(String(params?.[0])) as { id: string }[]).map((e) => e.id))
        return []
      },
    }
    const writer = createAuditWriter({
      sql: inTransactions(sql),
      log: silentLogger,
      batchSize: 10,
      delayMs: 10_000,
    })
    for (let n = 0; n < 25; n++) writer.record(entry(n))
    await writer.flush()
    for (let n = 25; n < 1000; n++) writer.record(entry(n))
    await writer.close()
    expect(written).toEqual(Array.from({ length: 1000 }, (_, n) => entry(n).id))
    expect(calls).toBeGreaterThanOrEqual(101) // 100 inserts at least, and the one that failed
  })
  it('holds new reads back while its buffer is full, lets them on as the database takes entries, and answers 503 past the wait', async () => {
    const { sql, inserts, state } = fakeSql()
    let release = () => {}
    const slow: SqlClient = {
      async query(text, params) {
        await new Promise<void>((resolve) => (release = resolve))
        return sql.query(text, params)
      },
    }
    const writer = createAuditWriter({
      sql: inTransactions(slow),
      log: silentLogger,
      batchSize: 10,
      maxPending: 20,
      delayMs: 10_000,
    })
    await writer.admit(1000)
    for (let n = 0; n < 25; n++) writer.record(entry(n))
    let admitted = false
    const waiting = writer.admit(10_000).then(() => (admitted = true))
    await new Promise((resolve) => setImmediate(resolve))
    expect(admitted).toBe(false)
    release()
    await waiting
    expect(inserts).toEqual([10])
    expect(writer.pending).toBeLessThan(20)
    // The database away: the buffer stays full, and a read waits no longer than it was told.
    state.down = true
    for (let n = 25; n < 40; n++) writer.record(entry(n))
    release()
    await expect(writer.admit(50)).rejects.toMatchObject({ status: 503, code: 'UNAVAILABLE' })
    state.down = false
    const closing = writer.close()
    for (let i = 0; i < 10; i++) {
      release()
      await new Promise((resolve) => setImmediate(resolve))
    }
    await closing
    expect(writer.pending).toBe(0)
  })
})

describe('summarize', () => {
  it('keeps scalars, cuts text, counts lists, folds nesting, and replaces what PostgreSQL cannot store', () => {
    expect(
      summarize({
        id: 'r1',
        n: 3,
        ok: true,
        none: null,
        text: 'y'.repeat(201),
        tags: ['a', 'b'],
        items: [{ a: 1 }],
        nested: { a: { b: 1 }, s: 'ok' },
        'bad\u0000key': 'lone \uDC00 surrogate',
      }),
    ).toEqual({
      id: 'r1',
      n: 3,
      ok: true,
      none: null,
      text: `${'y'.repeat(200)}…`,
      tags: ['a', 'b'],
      items: '[1 items]',
      nested: { a: '{…}', s: 'ok' },
      'bad\uFFFDkey': 'lone \uFFFD surrogate',
    })
    expect(summarize('plain')).toEqual({ value: 'plain' })
    expect(
      Object.keys(summarize(Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, i])))),
    ).toHaveLength(30)
  })
})

/** A sink that keeps the entries recorded, for the read middleware. */
function recordingSink() {
  const recorded: AuditEntry[] = []
  const sink: AuditSink = {
    statement: () => ({ text: '' }),
    written: async () => {},
    record: (e) => void recorded.push(e),
    admit: async () => {},
  }
  return { sink, recorded }
}

describe('the audit of reads', () => {
  it('keeps every id a read showed, where a long list in a command’s input is recorded as its length', async () => {
    const { sink, recorded } = recordingSink()
    const audit = auditReads({ sink, clock: () => new Date(0), newId: () => entry(1).id })
    // One requester with fifteen requests on a manager's page.
    const requestIds = Array.from({ length: 15 }, (_, i) => `r${i}`)
    const call = {
      kind: 'query',
      address: 'procurement/list',
      definition: { domain: 'procurement', audit: () => [{ subjectId: 'ann', details: { requestIds } }] },
      input: {},
      caller: { id: 'meg', roles: ['manager'] },
    } as unknown as QueryCall
    await audit(call, async () => ({ value: {}, cacheHit: false, readPosition: '0' }))
    expect(recorded.map((e) => [e.subjectId, e.details])).toEqual([['ann', { requestIds }]])
    expect(summarize({ requestIds })).toEqual({ requestIds: '[15 items]' })
  })

  it('works out what a cached answer showed once per caller, and records every read of it', async () => {
    const { sink, recorded } = recordingSink()
    let reports = 0
    const audit = auditReads({ sink, clock: () => new Date(0), newId: () => entry(1).id })
    const page = { items: [{ requesterId: 'ann' }, { requesterId: 'bob' }] }
    const read = (caller: { id: string; roles: string[] }) =>
      audit(
        {
          kind: 'query',
          address: 'procurement/list',
          definition: {
            domain: 'procurement',
            audit: (_q: unknown, answer: typeof page) => {
              reports++
              return answer.items.map((i) => ({ subjectId: i.requesterId }))
            },
          },
          input: {},
          caller,
        } as unknown as QueryCall,
        // The same answer object each time, as the cache gives it on a hit.
        async () => ({ value: page, cacheHit: true, readPosition: '0' }),
      )
    await read({ id: 'meg', roles: ['manager'] })
    await read({ id: 'meg', roles: ['manager'] })
    await read({ id: 'ann', roles: ['manager'] })
    expect(reports).toBe(2)
    expect(recorded.map((e) => [e.actorId, e.subjectIds])).toEqual([
      ['meg', ['ann', 'bob']],
      ['meg', ['ann', 'bob']],
      ['ann', ['bob']],
    ])
  })
})
