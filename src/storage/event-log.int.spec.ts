import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Sql } from '../core/sql.js'
import { postgresUrl, servicesAvailable } from '../testing/services.js'
import {
  appendStatement,
  headPosition,
  logHead,
  origin,
  readAfter,
  readFrom,
  readPositions,
  type Checkpoint,
} from './event-log.js'
import { migrate } from './migrations.js'
import { createPglite } from './pglite.js'
import { createPostgres } from './postgres.js'
import { writeMigrations } from './schema.js'
import { createScratchDatabase } from './scratch-database.js'

const metadata = { commandId: 'c', correlationId: 'c', command: 'test/append' }

/** Reads everything after `from` in batches, as a projection runner does. */
async function drain(
  sql: Sql,
  from: Checkpoint,
  limit = 3,
): Promise<{ positions: string[]; at: Checkpoint; held: boolean }> {
  const positions: string[] = []
  let at = from
  for (;;) {
    const batch = await readAfter(sql, at, { limit })
    for (const e of batch.events) positions.push(e.position)
    const last = batch.events.at(-1)
    if (last) at = { txId: last.txId, position: last.position }
    if (batch.events.length < limit) return { positions, at, held: batch.held }
  }
}

/**
 * Reads everything committed after `from`, waiting (up to 30 s) while committed events are held
 * behind a transaction still running: the horizon is the whole server's, and another test file or a
 * benchmark may hold it a while. Only for a test holding no transaction open itself.
 */
async function drainCommitted(sql: Sql, from: Checkpoint): Promise<{ positions: string[]; at: Checkpoint }> {
  const positions: string[] = []
  let at = from
  for (let tries = 0; ; tries++) {
    const read = await drain(sql, at)
    positions.push(...read.positions)
    at = read.at
    if (!read.held || tries >= 300) return { positions, at }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

describe.runIf(servicesAvailable)(
  'the event log on PostgreSQL, with transactions committing out of order',
  () => {
    let scratch: Awaited<ReturnType<typeof createScratchDatabase>>
    let sql: Sql
    let raw: pg.Pool

    beforeAll(async () => {
      scratch = await createScratchDatabase(postgresUrl, 'eventlog')
      sql = createPostgres({ url: scratch.url, max: 40 })
      await migrate(sql, writeMigrations)
      raw = new pg.Pool({ connectionString: scratch.url, max: 40 })
      // Dropping the scratch database terminates connections still closing: not an error of the test.
      raw.on('error', () => undefined)
    })
    afterAll(async () => {
      await raw.end()
      await sql.close()
      await scratch.drop()
    })

    async function openAppend(stream: string) {
      const client = await raw.connect()
      await client.query('BEGIN')
      const s = appendStatement(
        { id: stream, expectedVersion: 0 },
        [{ type: 'Tested', data: { stream } }],
        metadata,
      )
      const [row] = (await client.query<{ position: string }>(s.text, s.params as unknown[])).rows
      return {
        position: row?.position ?? '',
        commit: async () => {
          await client.query('COMMIT')
          client.release()
        },
      }
    }

    it('compiles nothing to read the log: JIT is off on its connections, and in the read function for any caller', async () => {
      const [setting] = await sql.query<{ jit: string }>('SHOW jit')
      expect(setting?.jit).toBe('off')
      const { rows } = await raw.query<{ config: string[] }>(
        `SELECT proconfig AS config FROM pg_proc WHERE oid = 'tandem.events_after'::regproc`,
      )
      expect(rows[0]?.config).toContain('jit=off')
    })

    it('reads events by position, in order as numbers', async () => {
      const written = []
      for (let i = 0; i < 11; i++) written.push(await openAppend(`by-position-${i}`))
      for (const w of written) await w.commit()
      const [ninth, tenth] = [written[8]?.position ?? '', written[9]?.position ?? '']
      const picked = await readPositions(sql, [tenth, ninth, '9223372036854775807'])
      expect(picked.map((e) => [e.position, e.streamId])).toEqual([
        [ninth, 'by-position-8'],
        [tenth, 'by-position-9'],
      ])
    })

    it('moves its horizon no further than one past the newest transaction that wrote to the log', async () => {
      const s = appendStatement(
        { id: 'crash-safe', expectedVersion: 0 },
        [{ type: 'Tested', data: {} }],
        metadata,
      )
      await raw.query(s.text, s.params as unknown[])
      const { rows } = await raw.query<{ top: string }>(
        'SELECT max(tx_id)::text AS top FROM tandem.event_log',
      )
      const top = BigInt(rows[0]?.top ?? '0')
      // Transactions that take an id and write nothing: after a crash, PostgreSQL may hand their ids
      // out again (their commits do not wait for the disk), to transactions that then write events.
      for (let i = 0; i < 5; i++) await raw.query('SELECT pg_current_xact_id()')
      const { horizon } = await readAfter(sql, origin, { limit: 1 })
      // Lower when another test file holds a transaction open (the snapshot's xmin is the server's).
      expect(BigInt(horizon)).toBeLessThanOrEqual(top + 1n)
    })

    it('does not hand out a later event while an earlier transaction is still open, and skips nothing once it commits', async () => {
      const start = await drainCommitted(sql, origin)
      const first = await openAppend('gap-first')
      const second = await openAppend('gap-second')
      expect(BigInt(second.position)).toBeGreaterThan(BigInt(first.position))
      await second.commit()

      // A reader trusting `position > checkpoint` would take `second` now and never see `first`.
      const whileOpen = await drain(sql, start.at)
      expect(whileOpen.positions).toEqual([])

      await first.commit()
      const after = await drainCommitted(sql, whileOpen.at)
      expect(after.positions).toEqual([first.position, second.position])
    })

    it("names as the log's last event the newest transaction's, which may sit below the highest position", async () => {
      // The older transaction takes its id first and appends last: its event has the highest position.
      const older = await raw.connect()
      await older.query('BEGIN')
      await older.query('SELECT pg_current_xact_id()')
      const newer = await openAppend('head-newer')
      const s = appendStatement(
        { id: 'head-older', expectedVersion: 0 },
        [{ type: 'Tested', data: {} }],
        metadata,
      )
      const [row] = (await older.query<{ position: string }>(s.text, s.params as unknown[])).rows
      await older.query('COMMIT')
      older.release()
      await newer.commit()
      const head = await logHead(sql)
      expect(BigInt(row?.position ?? '0')).toBeGreaterThan(BigInt(newer.position))
      expect(head.position).toBe(row?.position)
      expect(head.last?.position).toBe(newer.position)
    })

    it('says when committed events wait behind a transaction still running, and no longer once it ends', async () => {
      const start = await drainCommitted(sql, origin)
      const open = await openAppend('held-open')
      const committed = await openAppend('held-committed')
      await committed.commit()
      const behind = await readAfter(sql, start.at, { limit: 10 })
      expect(behind).toMatchObject({ events: [], held: true })
      await open.commit()
      // Other sessions on the server (another test file, a benchmark) may hold the horizon a while.
      let after = await readAfter(sql, start.at, { limit: 10 })
      for (let tries = 0; after.held && tries < 300; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 100))
        after = await readAfter(sql, start.at, { limit: 10 })
      }
      expect(after).toMatchObject({ held: false })
      expect(after.events.map((e) => e.position)).toEqual([open.position, committed.position])
    })

    it("refuses, as a serialization failure, an append after a newer transaction's event in the stream", async () => {
      const start = await drainCommitted(sql, origin)
      const append = (client: pg.PoolClient, version: number) => {
        const s = appendStatement(
          { id: 'late-stream', expectedVersion: version - 1 },
          [{ type: 'Tested', data: { version } }],
          metadata,
        )
        return client.query<{ position: string }>(s.text, s.params as unknown[])
      }
      const older = await raw.connect()
      const newer = await raw.connect()
      try {
        // The older transaction takes its id first (as one waiting for a row another updated does).
        await older.query('BEGIN')
        await older.query('SELECT pg_current_xact_id()')
        await newer.query('BEGIN')
        await append(newer, 1)
        await newer.query('COMMIT')
        // Readers take the log in transaction order: this version 2 would come before version 1.
        await expect(append(older, 2)).rejects.toMatchObject({ code: '40001' })
        await older.query('ROLLBACK')
        // Tried again in a new transaction, it goes through, and readers see the stream in order.
        await older.query('BEGIN')
        await append(older, 2)
        await older.query('COMMIT')
      } finally {
        older.release()
        newer.release()
      }
      const read = await drainCommitted(sql, start.at)
      const { rows } = await raw.query<{ position: string }>(
        `SELECT position::text FROM tandem.event_log WHERE stream_id = 'late-stream' ORDER BY stream_version`,
      )
      expect(read.positions).toEqual(rows.map((r) => r.position))
      expect(rows).toHaveLength(2)
    })

    it('gives a reader racing 200 concurrent writers every event exactly once', async () => {
      const start = await drainCommitted(sql, origin)
      const seen: string[] = []
      let at = start.at
      let writing = true
      const reader = (async () => {
        while (writing) {
          const r = await drain(sql, at, 7)
          seen.push(...r.positions)
          at = r.at
        }
      })()
      const written = await Promise.all(
        Array.from({ length: 200 }, async (_, i) => {
          const tx = await openAppend(`race-${i}`)
          // Hold some transactions open a little, so commits land out of position order.
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 20))
          await tx.commit()
          return tx.position
        }),
      )
      writing = false
      await reader
      seen.push(...(await drainCommitted(sql, at)).positions)
      expect(new Set(seen).size).toBe(seen.length)
      expect([...seen].sort()).toEqual([...written].sort())
    })
  },
)

describe('the event log on PGlite', () => {
  it('reads what was appended, in order, in batches', async () => {
    const sql = await createPglite()
    await migrate(sql, writeMigrations)
    const appended: string[] = []
    for (let i = 0; i < 10; i++) {
      const s = appendStatement(
        { id: `s-${i}`, expectedVersion: 0 },
        [{ type: 'Tested', data: { i } }],
        metadata,
      )
      const [row] = await sql.query<{ position: string }>(s.text, s.params)
      appended.push(row?.position ?? '')
    }
    expect((await drain(sql, origin)).positions).toEqual(appended)
    // The head is the highest position as a number: 10 after 9, not the text '9' after '10'.
    expect(appended.at(-1)).toBe('10')
    expect(await headPosition(sql)).toBe('10')
    expect(await logHead(sql)).toMatchObject({ position: '10', last: { position: '10' } })
    // By position, in order as numbers (9 before 10), whatever the order asked; one not written is left out.
    const picked = await readPositions(sql, ['10', '999', '9', '2', '9'])
    expect(picked.map((e) => [e.position, e.data])).toEqual([
      ['2', { i: 1 }],
      ['9', { i: 8 }],
      ['10', { i: 9 }],
    ])
    expect(await readPositions(sql, [])).toEqual([])
    await sql.close()
  })
  it('moves its horizon no further than one past the newest transaction that wrote to the log', async () => {
    const sql = await createPglite()
    await migrate(sql, writeMigrations)
    // An empty log: nothing is below the horizon, whatever ids were handed out.
    expect((await readAfter(sql, origin, { limit: 1 })).horizon).toBe('1')
    const s = appendStatement(
      { id: 'crash-safe', expectedVersion: 0 },
      [{ type: 'Tested', data: {} }],
      metadata,
    )
    await sql.query(s.text, s.params)
    const [row] = await sql.query<{ tx: string }>('SELECT max(tx_id)::text AS tx FROM tandem.event_log')
    const top = BigInt(row?.tx ?? '0')
    // Ids taken by transactions that write nothing may be handed out again after a crash: the
    // horizon does not pass them (it was the snapshot's xmin, five ids further on).
    for (let i = 0; i < 5; i++) await sql.query('SELECT pg_current_xact_id()')
    const [xmin] = await sql.query<{ xmin: string }>(
      'SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin',
    )
    expect(BigInt(xmin?.xmin ?? '0')).toBeGreaterThan(top + 1n)
    expect((await readAfter(sql, origin, { limit: 1 })).horizon).toBe(String(top + 1n))
    await sql.close()
  })
  it('reads a few types on from the horizon of a complete read, and still sees every later event of them', async () => {
    const sql = await createPglite()
    await migrate(sql, writeMigrations)
    const append = async (type: string, i: number) => {
      const s = appendStatement(
        { id: `r-${type}-${i}`, expectedVersion: 0 },
        [{ type, data: { i } }],
        metadata,
      )
      const [row] = await sql.query<{ position: string }>(s.text, s.params)
      return row?.position ?? ''
    }
    const rare = await append('Rare', 0)
    for (let i = 0; i < 20; i++) await append('Common', i)
    const first = await readAfter(sql, origin, { limit: 10, types: ['Rare'] })
    expect(first.events.map((e) => e.position)).toEqual([rare])
    const checkpoint = { txId: first.events[0]?.txId ?? '0', position: rare }
    // From the horizon on: past the twenty others, not from the rare event's own checkpoint.
    const from = readFrom(checkpoint, first.horizon)
    expect(BigInt(from.txId)).toBeGreaterThan(BigInt(checkpoint.txId))
    expect((await readAfter(sql, from, { limit: 10, types: ['Common'] })).events).toEqual([])
    const later = await append('Rare', 1)
    expect(
      (await readAfter(sql, from, { limit: 10, types: ['Rare'] })).events.map((e) => e.position),
    ).toEqual([later])
    // No horizon yet, or one below the checkpoint: the checkpoint.
    expect(readFrom(checkpoint, '0')).toBe(checkpoint)
    expect(readFrom(checkpoint, checkpoint.txId)).toBe(checkpoint)
    await sql.close()
  })
})
