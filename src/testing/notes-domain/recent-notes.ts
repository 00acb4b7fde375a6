import Type, { type Static } from 'typebox'
import { cursorAfter, decodeCursor, defineQuery, Page, signedIn } from '../../kernel/index.js'
import { ListItem, mayList } from './projections.js'

type ListItem = Static<typeof ListItem>

/**
 * Notes newest first (time-ordered UUIDs), `owner`'s only when given; keyset-paged and live as an
 * item stream: each new note is sent once, keyed by its id.
 */
export const recentNotes = defineQuery({
  domain: 'notes',
  name: 'recent-notes',
  summary: "Every note, newest first; an owner's notes only for that owner or an admin",
  input: Type.Object(
    {
      ownerId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
      // Small pages: a stream's reads use the largest, and its page bounds show after a few notes.
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 3, description: 'Page size (at most 3)' })),
      cursor: Type.Optional(Type.String({ maxLength: 200 })),
    },
    { additionalProperties: false },
  ),
  output: Page(ListItem),
  access: signedIn(),
  readModels: ['note-list'],
  paged: true,
  live: { itemKey: (note) => note.noteId },
  examples: [{ limit: 3 }],
  cache: { ttlMs: 30_000, tags: () => ['notes:list'] },
  async handle(q, { caller, stores }) {
    mayList(q.ownerId, caller)
    const limit = q.limit ?? 3
    const before = q.cursor === undefined ? null : decodeCursor(q.cursor)
    const { sql, table } = stores.sql('note-list')
    // Compared as bytes, as `itemKey`'s keys are compared as JS strings.
    const rows = await sql.query<ListItem>(
      `SELECT note_id::text AS "noteId", owner_id AS "ownerId", title FROM ${table('note')}
       WHERE ($1::text IS NULL OR note_id::text COLLATE "C" < $1) AND ($2::text IS NULL OR owner_id = $2)
       ORDER BY note_id::text COLLATE "C" DESC LIMIT $3`,
      [before, q.ownerId ?? null, limit + 1],
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
