import Type, { type Static } from 'typebox'
import {
  anyone,
  cursorAfter,
  decodeCursor,
  defineKvProjection,
  defineQuery,
  defineSqlProjection,
  ForbiddenError,
  Id,
  Limit,
  NotFoundError,
  Page,
  signedIn,
  type Caller,
} from '../../kernel/index.js'
import { noteEvents } from './messages.js'

/** A KV read model (one document per note, live-queryable) and a SQL one (the notes, paged). */

const Note = Type.Object({
  noteId: Id(),
  ownerId: Type.String(),
  title: Type.String(),
  body: Type.String(),
  comments: Type.Integer(),
  updatedAt: Type.String({ format: 'date-time' }),
})
type Note = Static<typeof Note>
const doc = (noteId: string) => `note:${noteId}`

export const noteDetailsProjection = defineKvProjection({
  domain: 'notes',
  name: 'note-details',
  version: 1,
  events: noteEvents,
  tags: (event) => [`note:${event.data.noteId}`],
  prefetch: (events) => events.map((e) => doc(e.data.noteId)),
  async apply(event, kv) {
    const d = event.data
    if (event.type === 'NoteCreated') {
      const { at, ...created } = event.data
      kv.setJson(doc(d.noteId), { ...created, comments: 0, updatedAt: at })
      return
    }
    const note = await kv.getJson<Note>(doc(d.noteId))
    if (!note) return
    if (event.type === 'NoteDeleted') kv.del(doc(d.noteId))
    else if (event.type === 'NoteEdited') {
      const { title = note.title, body = note.body } = event.data
      kv.setJson(doc(d.noteId), { ...note, title, body, updatedAt: event.data.at })
    } else kv.setJson(doc(d.noteId), { ...note, comments: note.comments + 1 })
  },
})

export const getNote = defineQuery({
  domain: 'notes',
  name: 'get-note',
  summary: 'One note, with its number of comments',
  input: Type.Object({ noteId: Id() }, { additionalProperties: false }),
  output: Note,
  access: anyone,
  readModels: ['note-details'],
  notFound: 'NOTE_NOT_FOUND',
  live: true,
  examples: [{ noteId: '0190a0d0-4c5e-7a1b-8c2d-3e4f5a6b7c90' }],
  cache: { ttlMs: 60_000, tags: (q) => [`note:${q.noteId}`] },
  async handle(q, { stores }) {
    const note = await stores.kv('note-details').get(doc(q.noteId))
    if (note === null) throw new NotFoundError('NOTE_NOT_FOUND', 'Note not found')
    return JSON.parse(note) as Note
  },
})

export const noteListProjection = defineSqlProjection({
  domain: 'notes',
  name: 'note-list',
  version: 1,
  events: noteEvents,
  tables: ['note'],
  setup: (table) =>
    `CREATE TABLE ${table('note')} (note_id uuid PRIMARY KEY, owner_id text NOT NULL, title text NOT NULL,
       created_at timestamptz NOT NULL)`,
  tags: (event) => (event.type === 'CommentAdded' ? [] : ['notes:list']),
  async apply(event, tx, table) {
    if (event.type === 'NoteCreated') {
      const d = event.data
      tx.write({
        text: `INSERT INTO ${table('note')} VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
        params: [d.noteId, d.ownerId, d.title, d.at],
      })
    } else if (event.type === 'NoteDeleted') {
      tx.write({ text: `DELETE FROM ${table('note')} WHERE note_id = $1`, params: [event.data.noteId] })
    } else if (event.type === 'NoteEdited' && event.data.title !== undefined) {
      tx.write({
        text: `UPDATE ${table('note')} SET title = $2 WHERE note_id = $1`,
        params: [event.data.noteId, event.data.title],
      })
    }
  },
})

export const ListItem = Type.Object({ noteId: Id(), ownerId: Type.String(), title: Type.String() })
type ListItem = Static<typeof ListItem>

/** A writer lists their own notes; an admin anyone's. */
export function mayList(ownerId: string | undefined, caller: Caller | undefined): void {
  if (ownerId !== undefined && ownerId !== caller?.id && !caller?.roles.includes('admin'))
    throw new ForbiddenError("Only an admin may list another writer's notes")
}

/** Notes by id (time-ordered UUIDs: oldest first), `owner`'s only when given; keyset-paged. */
export const listNotes = defineQuery({
  domain: 'notes',
  name: 'list-notes',
  summary: "Every note, oldest first; an owner's notes only for that owner or an admin",
  input: Type.Object(
    {
      ownerId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
      limit: Type.Optional(Limit),
      cursor: Type.Optional(Type.String({ maxLength: 200 })),
    },
    { additionalProperties: false },
  ),
  output: Page(ListItem),
  access: signedIn(),
  readModels: ['note-list'],
  paged: true,
  examples: [{ limit: 10 }],
  cache: { ttlMs: 30_000, tags: () => ['notes:list'] },
  async handle(q, { caller, stores }) {
    mayList(q.ownerId, caller)
    const limit = q.limit ?? 20
    const after = q.cursor === undefined ? '' : decodeCursor(q.cursor)
    const { sql, table } = stores.sql('note-list')
    const rows = await sql.query<ListItem>(
      `SELECT note_id::text AS "noteId", owner_id AS "ownerId", title FROM ${table('note')}
       WHERE note_id::text > $1 AND ($2::text IS NULL OR owner_id = $2) ORDER BY note_id LIMIT $3`,
      [after, q.ownerId ?? null, limit + 1],
    )
    return {
      items: rows.slice(0, limit),
      nextCursor: cursorAfter(
        rows.map((r) => r.noteId),
        limit,
      ),
    }
  },
})
