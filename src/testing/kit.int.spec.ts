import Type from 'typebox'
import { describe, expect, it } from 'vitest'
import { anyone, defineEvent, defineQuery } from '../core/messages.js'
import { defineKvProjection, defineSqlProjection } from '../projections/projection.js'
import { origin } from '../storage/event-log.js'
import { projectionSpec } from './kit.js'
import { modes } from './services.js'

/** A toy domain: notes are added and removed; one KV and one SQL read model count them. */
const NoteAdded = defineEvent('NoteAdded', Type.Object({ noteId: Type.String(), text: Type.String() }))
const NoteRemoved = defineEvent('NoteRemoved', Type.Object({ noteId: Type.String() }))
const Unrelated = defineEvent('Unrelated', Type.Object({}))

const notesKv = defineKvProjection({
  domain: 'notes',
  name: 'notes-kv',
  version: 1,
  events: [NoteAdded, NoteRemoved],
  tags: (event) => [`note:${event.data.noteId}`],
  async apply(event, kv) {
    if (event.type === 'NoteAdded') {
      kv.setJson(`note:${event.data.noteId}`, { text: event.data.text })
      kv.sadd('notes', event.data.noteId)
    } else {
      kv.del(`note:${event.data.noteId}`)
      kv.srem('notes', event.data.noteId)
    }
  },
})
const notesSql = defineSqlProjection({
  domain: 'notes',
  name: 'notes-sql',
  version: 1,
  events: [NoteAdded, NoteRemoved],
  tables: ['notes'],
  setup: (t) => `CREATE TABLE IF NOT EXISTS ${t('notes')} (note_id text PRIMARY KEY, text text NOT NULL)`,
  tags: () => ['notes'],
  async apply(event, tx, t) {
    tx.write(
      event.type === 'NoteAdded'
        ? { text: `INSERT INTO ${t('notes')} VALUES ($1, $2)`, params: [event.data.noteId, event.data.text] }
        : { text: `DELETE FROM ${t('notes')} WHERE note_id = $1`, params: [event.data.noteId] },
    )
  },
})
const countNotes = defineQuery({
  domain: 'notes',
  name: 'count-notes',
  summary: 'How many notes, in each read model',
  input: Type.Object({ min: Type.Optional(Type.Integer({ minimum: 0 })) }, { additionalProperties: false }),
  output: Type.Object({ kv: Type.Integer(), sql: Type.Integer() }),
  access: anyone,
  readModels: ['notes-kv', 'notes-sql'],
  async handle(_q, { stores }) {
    const kv = (await stores.kv('notes-kv').smembers('notes')).length
    const { sql, table } = stores.sql('notes-sql')
    const [row] = await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table('notes')}`)
    return { kv, sql: row?.n ?? 0 }
  },
})
const misshapen = defineQuery({
  ...countNotes,
  name: 'misshapen',
  handle: async () => ({ kv: 'many', sql: 0 }) as never,
})

describe.each(modes)('projectionSpec (%s)', (mode) => {
  const given = projectionSpec(mode, [notesKv, notesSql])
  const added = (noteId: string) => NoteAdded.create({ noteId, text: `text of ${noteId}` })

  it('applies the given events to every projection, then answers queries and shows keys and rows', async () => {
    const m = await given(added('a'), added('b'), Unrelated.create({}))
    expect(await m.ask(countNotes, {})).toEqual({ kv: 2, sql: 2 })
    expect(await m.kv('notes-kv').json('note:a')).toEqual({ text: 'text of a' })
    expect(await m.rows('notes-sql', 'notes')).toEqual([
      { note_id: 'a', text: 'text of a' },
      { note_id: 'b', text: 'text of b' },
    ])
    expect(await m.apply(NoteRemoved.create({ noteId: 'a' }))).toEqual(new Set(['note:a', 'notes']))
    expect(await m.ask(countNotes, {})).toEqual({ kv: 1, sql: 1 })
    expect(await m.checkpoint('notes-sql')).toEqual({ txId: '4', position: '4' })
  })

  it('builds fresh read models for each given', async () => {
    const m = await given()
    expect(await m.ask(countNotes, {})).toEqual({ kv: 0, sql: 0 })
    expect(await m.kv('notes-kv').get('note:a')).toBeNull()
  })

  it('lets a test apply a batch again from a checkpoint passed: refused, nothing changed', async () => {
    const m = await given()
    const batch = [added('a'), added('b')].map(m.record)
    expect(await m.applyBatch(batch, origin)).toEqual([true, true])
    expect(await m.applyBatch(batch, origin)).toEqual([false, false])
    expect(await m.ask(countNotes, {})).toEqual({ kv: 2, sql: 2 })
  })

  it('checks a query’s input and its answer against their schemas', async () => {
    const m = await given(added('a'))
    await expect(m.ask(countNotes, { min: -1 })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' })
    await expect(m.ask(misshapen, {})).rejects.toThrow(/does not fit its output schema: \/kv/)
  })
})
