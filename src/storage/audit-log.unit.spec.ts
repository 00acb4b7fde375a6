import { describe, expect, it } from 'vitest'
import { summarize, type AuditEntry } from '../core/audit.js'
import { silentLogger } from '../core/logger.js'
import type { SqlClient } from '../core/sql.js'
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
  commandId: null,
  correlationId: null,
  replayed: false,
  details: {},
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
    const writer = createAuditWriter({ sql, log: silentLogger, batchSize: 500, delayMs: 10_000 })
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
      sql,
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
