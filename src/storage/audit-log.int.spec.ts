import Type from 'typebox'
import pg from 'pg'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { AuditRecord } from '../core/audit.js'
import { ConflictError } from '../core/errors.js'
import { defineCommand, defineEvent, defineQuery, signedIn, type Caller } from '../core/messages.js'
import type { Domain } from '../kernel/domain.js'
import { startTestTandem, type TestTandem } from '../testing/harness.js'
import { modes } from '../testing/services.js'
import { auditLogReader } from './audit-log.js'
import { migrate } from './migrations.js'
import { createPglite } from './pglite.js'
import { writeMigrations } from './schema.js'

/** A small audited domain: a command that commits, refuses, fails, or conflicts; a query that shows a person. */
const Noted = defineEvent('AuditNoted', Type.Object({ n: Type.Integer() }))
const note = defineCommand({
  domain: 'ledger',
  name: 'note',
  summary: 'Append one event, or refuse, fail or conflict on purpose',
  input: Type.Object(
    {
      n: Type.Integer(),
      stream: Type.String({ maxLength: 40 }),
      text: Type.Optional(Type.String({ maxLength: 500 })),
      items: Type.Optional(Type.Array(Type.Integer())),
    },
    { additionalProperties: false },
  ),
  output: Type.Object({ n: Type.Integer() }),
  access: signedIn('writer'),
  async handle(input, { tx }) {
    if (input.n === 409) throw new ConflictError('TOO_MANY', 'Too many')
    // Version 1 again on a stream that has it: every attempt fails its commit (a unique violation).
    tx.append({ id: `ledger-${input.stream}`, expectedVersion: 0 }, [Noted.create({ n: input.n })])
    if (input.n === 500) throw new TypeError('a bug after queueing an event')
    return { n: input.n }
  },
})
const profile = defineQuery({
  domain: 'ledger',
  name: 'profile',
  summary: "A person's profile: a read of their data",
  input: Type.Object({ userId: Type.String({ maxLength: 40 }) }, { additionalProperties: false }),
  output: Type.Object({ userId: Type.String() }),
  access: signedIn(),
  readModels: [],
  cache: { ttlMs: 60_000, tags: (q) => [`profile:${q.userId}`] },
  audit: (q) => [{ subjectId: q.userId, details: { shown: 'profile' } }],
  handle: async (q) => ({ userId: q.userId }),
})
/** Several people's profiles on one page: one read of each of them. */
const profiles = defineQuery({
  domain: 'ledger',
  name: 'profiles',
  summary: 'Several profiles at once',
  input: Type.Object({ userIds: Type.Array(Type.String({ maxLength: 40 }), { maxItems: 50 }) }),
  output: Type.Object({ items: Type.Array(Type.String()) }),
  access: signedIn(),
  readModels: [],
  audit: (q) => q.userIds.map((userId) => ({ subjectId: userId, details: { shown: [userId] } })),
  handle: async (q) => ({ items: q.userIds }),
})
/** Profiles whose people a read model named in a way PostgreSQL cannot store (input cannot). */
const strangers = defineQuery({
  ...profiles,
  name: 'strangers',
  summary: 'Several profiles, their ids made unstorable',
  audit: (q) =>
    q.userIds.map((userId, n) => ({ subjectId: `${userId}${n % 2 === 0 ? '\u0000' : '\uD800'}` })),
})
const ledger: Domain = {
  name: 'ledger',
  audit: true,
  events: [Noted],
  commands: [note],
  queries: [profile, profiles, strangers],
  projections: [],
  migrations: [],
}
/** A domain that does not opt in. */
const quiet: Domain = {
  name: 'quiet',
  events: [],
  commands: [
    defineCommand({
      ...note,
      domain: 'quiet',
      handle: (input) => Promise.resolve({ n: input.n }),
    }),
  ],
  queries: [],
  projections: [],
  migrations: [],
}

const wes: Caller = { id: 'wes', roles: ['writer'] }
const rae: Caller = { id: 'rae', roles: ['reader'] }

describe.each(modes)('the audit log (%s)', (mode) => {
  let t: TestTandem
  beforeAll(async () => {
    t = await startTestTandem(mode, { domains: [ledger, quiet] })
  })
  afterAll(() => t.dispose())
  beforeEach(() => t.sql.query('DELETE FROM tandem.audit_log'))

  const entries = async () => {
    await t.audit.flush()
    return auditLogReader(t.sql).read({ domain: 'ledger', limit: 100 })
  }
  const send = (input: unknown, caller?: Caller, idempotencyKey?: string) =>
    t.commands.execute('ledger/note', input, { caller, idempotencyKey })

  it('records a command that commits, in its transaction: who, what, when, its id and input in short', async () => {
    const result = await send({ n: 1, stream: 'a', text: 'x'.repeat(300), items: [1, 2, 3] }, wes)
    expect(result.status).toBe('succeeded')
    const [entry, ...rest] = await entries()
    expect(rest).toEqual([])
    expect(entry).toMatchObject({
      kind: 'command',
      action: 'ledger/note',
      actorId: 'wes',
      actorRoles: ['writer'],
      outcome: 'succeeded',
      status: null,
      code: null,
      commandId: result.commandId,
      replayed: false,
      details: { n: 1, stream: 'a', text: `${'x'.repeat(200)}…`, items: [1, 2, 3] },
    })
    // Committed with the event: one transaction wrote both.
    const [same] = await t.sql.query<{ same: boolean }>(
      `SELECT (SELECT xmin FROM tandem.audit_log WHERE command_id = $1)::text
            = (SELECT xmin FROM tandem.event_log WHERE metadata->>'commandId' = $1::text)::text AS same`,
      [result.commandId],
    )
    expect(same?.same).toBe(true)
  })

  it('records refusals by the rules, by role and by validation, before the answer', async () => {
    await send({ n: 409, stream: 'b' }, wes)
    await send({ n: 1, stream: 'b' }, rae)
    await send({ n: 'one', stream: 'b\u0000\uD800' }, wes)
    await send({ n: 1, stream: 'b' })
    // Written before the answer: no flush needed.
    const rows = await auditLogReader(t.sql).read({ domain: 'ledger', limit: 10 })
    const seen = rows.map((r) => [r.actorId, r.outcome, r.status, r.code])
    expect(seen.toSorted()).toEqual(
      [
        ['wes', 'refused', 409, 'TOO_MANY'],
        ['rae', 'refused', 403, 'FORBIDDEN'],
        ['wes', 'refused', 400, 'VALIDATION_FAILED'],
        [null, 'refused', 401, 'UNAUTHENTICATED'],
      ].toSorted(),
    )
    // What PostgreSQL cannot store in the input is replaced, so the refusal is still on record.
    expect(rows.find((r) => r.status === 400)?.details).toEqual({ n: 'one', stream: 'b\uFFFD\uFFFD' })
    expect(await t.sql.query('SELECT 1 FROM tandem.event_log WHERE stream_id = $1', ['ledger-b'])).toEqual([])
  })

  it('records refusals that arrive together, each before its answer, in fewer inserts than refusals', async () => {
    const refusals = 200
    const heard = await Promise.all(
      Array.from({ length: refusals }, async (_, n) => {
        const done = await send({ n: 1, stream: `flood-${n}` })
        // On record when the caller hears it: read before any flush.
        const [row] = await t.sql.query<{ id: string }>(
          `SELECT id::text FROM tandem.audit_log WHERE command_id = $1`,
          [done.commandId],
        )
        return { status: done.status, recorded: row !== undefined }
      }),
    )
    expect(heard.filter((h) => h.status === 'failed' && h.recorded)).toHaveLength(refusals)
    // Rows one insert wrote share its transaction id.
    const [inserts] = await t.sql.query<{ n: string }>(
      `SELECT count(DISTINCT xmin::text)::text AS n FROM tandem.audit_log WHERE code = 'UNAUTHENTICATED'`,
    )
    expect(Number(inserts?.n)).toBeLessThan(refusals / 2)
  })

  it('keeps one entry for a refusal an idempotency key keeps, and marks the replays', async () => {
    await send({ n: 409, stream: 'c' }, wes, 'key-1')
    await send({ n: 409, stream: 'c' }, wes, 'key-1')
    await send({ n: 2, stream: 'c' }, wes, 'key-2')
    await send({ n: 2, stream: 'c' }, wes, 'key-2')
    const rows = (await entries()).toReversed()
    expect(rows.map((r) => [r.outcome, r.code, r.replayed])).toEqual([
      ['refused', 'TOO_MANY', false],
      ['refused', 'TOO_MANY', true],
      ['succeeded', null, false],
      ['succeeded', null, true],
    ])
  })

  it('has no succeeded entry for a command that never committed: a bug, or a conflict on every attempt', async () => {
    await send({ n: 1, stream: 'd' }, wes)
    const conflict = await send({ n: 23505, stream: 'd' }, wes)
    expect(conflict.status === 'failed' && conflict.error.code).toBe('CONCURRENCY_CONFLICT')
    await expect(send({ n: 500, stream: 'e' }, wes)).rejects.toThrow('a bug')
    const rows = (await entries()).toReversed()
    expect(rows.map((r) => [r.outcome, r.code])).toEqual([
      ['succeeded', null],
      ['refused', 'CONCURRENCY_CONFLICT'],
      ['failed', 'INTERNAL'],
    ])
  })

  it('records nothing of a domain that does not opt in', async () => {
    expect((await t.commands.execute('quiet/note', { n: 1, stream: 'q' }, { caller: wes })).status).toBe(
      'succeeded',
    )
    await t.audit.flush()
    expect(await t.sql.query('SELECT 1 FROM tandem.audit_log')).toEqual([])
  })

  it('records every read of another person, cached answers too, and no read of oneself', async () => {
    for (const caller of [rae, rae, wes]) {
      expect((await t.queries.ask(profile, { userId: 'wes' }, { caller })).status).toBe('succeeded')
    }
    expect(await auditLogReader(t.sql).read({ domain: 'ledger', limit: 10 })).toEqual([]) // not yet: buffered
    const rows = await entries()
    expect(rows).toHaveLength(2)
    expect(rows[0]).toMatchObject({
      kind: 'read',
      action: 'ledger/profile',
      actorId: 'rae',
      outcome: 'read',
      subjectId: 'wes',
      details: { shown: 'profile' },
    })
  })

  // PGlite runs one statement at a time, whatever the connection: only PostgreSQL shares connections.
  it.runIf(mode === 'server')(
    'inserts on a connection of its own: reads do not wait behind an insert held up',
    async () => {
      const locker = new pg.Client({ connectionString: t.config.databaseUrl })
      await locker.connect()
      try {
        await locker.query('BEGIN')
        await locker.query('LOCK TABLE tandem.audit_log IN EXCLUSIVE MODE')
        await t.queries.ask(profile, { userId: 'wes' }, { caller: rae })
        const written = t.audit.flush()
        // Until the insert waits for the lock.
        const waiting = async () => {
          const { rows } = await locker.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND relation = 'tandem.audit_log'::regclass`,
          )
          return rows[0]?.n ?? 0
        }
        while ((await waiting()) === 0) await new Promise((resolve) => setTimeout(resolve, 10))
        // Reads sent together spread over the connections that reads share: none may hold the insert.
        const reads = Promise.all(Array.from({ length: 10 }, () => t.sql.query('SELECT 1 AS one')))
        const late = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), 3_000).unref())
        expect(await Promise.race([reads.then(() => 'answered'), late])).toBe('answered')
        await locker.query('COMMIT')
        await written
        expect(await auditLogReader(t.sql).read({ domain: 'ledger', limit: 10 })).toHaveLength(1)
      } finally {
        await locker.end()
      }
    },
  )

  it('records a read of several people once, naming each of them, and finds it by any of them', async () => {
    const shown = ['ann', 'wes', 'bo', 'ann', 'rae', ...Array.from({ length: 40 }, (_, n) => `p${n}`)]
    expect((await t.queries.ask(profiles, { userIds: shown }, { caller: rae })).status).toBe('succeeded')
    const [row, ...more] = await entries()
    expect(more).toEqual([])
    // Everyone shown but the reader, once each, in the order shown.
    const others = [...new Set(shown)].filter((id) => id !== 'rae')
    expect(row).toMatchObject({ kind: 'read', action: 'ledger/profiles', actorId: 'rae', subjectId: null })
    expect(row?.subjectIds).toEqual(others)
    expect(row?.details).toEqual({
      subjects: Object.fromEntries(others.map((id) => [id, { shown: [id] }])),
    })
    const reader = auditLogReader(t.sql)
    for (const subjectId of ['ann', 'p39'])
      expect((await reader.read({ domain: 'ledger', subjectId, limit: 10 })).map((r) => r.id)).toEqual([
        row?.id,
      ])
    expect(await reader.read({ domain: 'ledger', subjectId: 'rae', limit: 10 })).toEqual([])
    // Oneself alone: nothing to record.
    await t.queries.ask(profiles, { userIds: ['rae'] }, { caller: rae })
    expect(await entries()).toHaveLength(1)
  })

  it('writes an entry whose ids PostgreSQL cannot store as they are, and the entries after it', async () => {
    const odd = (n: number) => ({
      id: `00000000-0000-7000-8000-${String(n).padStart(12, '0')}`,
      at: new Date(),
      kind: 'read' as const,
      domain: 'ledger',
      action: 'ledger/profile',
      actorId: `agent\u0000${n}`,
      actorRoles: ['agent\uD800'],
      outcome: 'read' as const,
      status: null,
      code: null,
      subjectId: `cus\uDC00${n}`,
      subjectIds: [`cus\uDC00${n}`],
      commandId: null,
      correlationId: null,
      replayed: false,
      details: {},
    })
    t.audit.record(odd(1))
    t.audit.record(odd(2))
    const rows = await entries()
    expect(rows.map((r) => [r.actorId, r.actorRoles, r.subjectIds])).toEqual([
      ['agent\uFFFD2', ['agent\uFFFD'], ['cus\uFFFD2']],
      ['agent\uFFFD1', ['agent\uFFFD'], ['cus\uFFFD1']],
    ])
    expect(t.audit.pending).toBe(0)
  })

  it('keeps ids with quotes, backslashes, commas, braces or the word NULL as they are', async () => {
    const ids = ['a"b', 'c\\d', 'e,f', '{g}', ' h ', 'NULL', '', "i'j", '\\"']
    t.audit.record({
      id: '00000000-0000-7000-8000-000000000009',
      at: new Date(),
      kind: 'read',
      domain: 'ledger',
      action: 'ledger/profiles',
      actorId: 'rae',
      actorRoles: ['a"\\,{}'],
      outcome: 'read',
      status: null,
      code: null,
      subjectId: null,
      subjectIds: ids,
      commandId: null,
      correlationId: 'NULL',
      replayed: false,
      details: { subjects: Object.fromEntries(ids.map((id) => [id, {}])) },
    })
    const [row] = await entries()
    expect(row?.subjectIds).toEqual(ids)
    expect(row?.actorRoles).toEqual(['a"\\,{}'])
    expect(row?.correlationId).toBe('NULL')
    expect(Object.keys(row?.details.subjects as object).sort()).toEqual([...ids].sort())
  })

  it('writes a read of several people whose ids PostgreSQL cannot store as they are, given again', async () => {
    for (let n = 0; n < 2; n++) {
      const asked = await t.queries.ask(strangers, { userIds: ['ann', 'wes', 'bo'] }, { caller: rae })
      expect(asked.status).toBe('succeeded')
    }
    const rows = await entries()
    const stored = ['ann\uFFFD', 'wes\uFFFD', 'bo\uFFFD']
    expect(rows.map((r) => r.subjectIds)).toEqual([stored, stored])
    expect(Object.keys(rows[0]?.details.subjects as object).sort()).toEqual([...stored].sort())
    expect(t.audit.pending).toBe(0)
  })

  it('reads newest first, by actor, subject, kind and time, in keyset pages', async () => {
    const start = new Date()
    for (let n = 0; n < 5; n++) {
      t.shiftClock(n * 60_000)
      await send({ n, stream: `f${n}` }, wes)
    }
    t.shiftClock(0)
    await t.queries.ask(profile, { userId: 'ann' }, { caller: rae })
    await t.audit.flush()
    const reader = auditLogReader(t.sql)
    const all = await reader.read({ domain: 'ledger', limit: 100 })
    expect(all).toHaveLength(6)
    expect(all.map((r) => r.at)).toEqual(
      all
        .map((r) => r.at)
        .toSorted()
        .toReversed(),
    )
    expect(await reader.read({ domain: 'ledger', actorId: 'rae', limit: 10 })).toMatchObject([
      { subjectId: 'ann' },
    ])
    expect(await reader.read({ domain: 'ledger', subjectId: 'ann', kind: 'read', limit: 10 })).toHaveLength(1)
    expect(await reader.read({ domain: 'other', limit: 10 })).toEqual([])
    const from = new Date(start.getTime() + 90_000).toISOString()
    const to = new Date(start.getTime() + 3.5 * 60_000).toISOString()
    const ranged = await reader.read({ domain: 'ledger', actorId: 'wes', from, to, limit: 10 })
    expect(ranged.map((r) => r.details.n)).toEqual([3, 2])

    const walked: AuditRecord[] = []
    let before: { time: string; id: string } | undefined
    for (;;) {
      const page = await reader.read({ domain: 'ledger', limit: 2, ...(before ? { before } : {}) })
      walked.push(...page)
      const last = page.at(-1)
      if (page.length < 2 || !last) break
      before = { time: last.at, id: last.id }
    }
    expect(walked).toEqual(all)
  })
})

describe('the audit log’s migration to one entry per read', () => {
  it('gives each entry written before it its person, so a search by person still finds them', async () => {
    const sql = await createPglite()
    const upTo = writeMigrations.findIndex((m) => m.id === 'core/008-audit-log-subjects')
    await migrate(sql, writeMigrations.slice(0, upTo))
    await sql.query(
      `INSERT INTO tandem.audit_log (id, at, kind, domain, action, actor_id, actor_roles, outcome, subject_id, details)
       VALUES ('00000000-0000-7000-8000-000000000001', now(), 'read', 'ledger', 'ledger/profile', 'rae', '[]', 'read', 'wes', '{}'),
              ('00000000-0000-7000-8000-000000000002', now(), 'command', 'ledger', 'ledger/note', 'wes', '[]', 'succeeded', NULL, '{}')`,
    )
    await migrate(sql, writeMigrations)
    const reader = auditLogReader(sql)
    expect(await reader.read({ domain: 'ledger', subjectId: 'wes', limit: 10 })).toMatchObject([
      { subjectId: 'wes', subjectIds: ['wes'] },
    ])
    expect(await reader.read({ domain: 'ledger', kind: 'command', limit: 10 })).toMatchObject([
      { subjectIds: [] },
    ])
    await sql.close()
  })
})
