import Type from 'typebox'
import {
  ConflictError,
  defineCommand,
  eventSourced,
  ForbiddenError,
  Id,
  NotFoundError,
  signedIn,
  stateStored,
  type Migration,
  type SqlClient,
} from '../../kernel/index.js'
import {
  AddCommentInput,
  CommentAdded,
  CreateNoteInput,
  EditNoteInput,
  DeleteNoteInput,
  NoteDeleted,
  NoteCreated,
  NoteEdited,
  type AddComment,
  type CreateNote,
  type EditNote,
  type DeleteNote,
} from './messages.js'

const domain = 'notes'
export const exampleNoteId = '0190a0d0-4c5e-7a1b-8c2d-3e4f5a6b7c90'
/** A note takes this many comments at most: the event-sourced command's rule. */
export const maxComments = 3

export const migrations: readonly Migration[] = [
  {
    id: 'notes/001-write-model',
    sql: `CREATE SCHEMA notes;
      CREATE TABLE notes.note (note_id uuid PRIMARY KEY, owner_id text NOT NULL, version integer NOT NULL,
        deleted boolean NOT NULL DEFAULT false)`,
  },
]

type Note = { status: 'absent' } | { status: 'present' | 'deleted'; ownerId: string; version: number }

async function loadNote(tx: SqlClient, noteId: string): Promise<Note> {
  const [row] = await tx.query<{ ownerId: string; version: number; deleted: boolean }>(
    'SELECT owner_id AS "ownerId", version, deleted FROM notes.note WHERE note_id = $1 FOR UPDATE',
    [noteId],
  )
  if (!row) return { status: 'absent' }
  return { status: row.deleted ? 'deleted' : 'present', ownerId: row.ownerId, version: row.version }
}

const notFound = () => new NotFoundError('NOTE_NOT_FOUND', 'Note not found')
const streamId = (noteId: string) => `note-${noteId}`
const NoteIdResult = Type.Object({ noteId: Id() })

/** State-stored; a writer or an admin creates a note and owns it. */
export const createNote = defineCommand({
  domain,
  name: 'create-note',
  summary: 'Write a note; the caller owns it',
  input: CreateNoteInput,
  output: NoteIdResult,
  access: signedIn('writer', 'admin'),
  refusals: { 409: ['NOTE_ALREADY_EXISTS'] },
  examples: [{ noteId: exampleNoteId, title: 'First note', body: 'Hello' }],
  handle: stateStored({
    load: (tx, cmd: CreateNote, meta) => loadNote(tx, cmd.noteId ?? meta.newId),
    decide(cmd, state, meta) {
      if (state.status !== 'absent') throw new ConflictError('NOTE_ALREADY_EXISTS', 'Note already exists')
      const noteId = cmd.noteId ?? meta.newId
      const ownerId = meta.caller?.id ?? ''
      return [
        NoteCreated.create({
          noteId,
          ownerId,
          title: cmd.title,
          body: cmd.body ?? '',
          at: meta.now.toISOString(),
        }),
      ]
    },
    stream: (cmd, _state, meta) => ({ id: streamId(cmd.noteId ?? meta.newId), expectedVersion: 0 }),
    persist: (events) =>
      events.map((e) => ({
        text: 'INSERT INTO notes.note (note_id, owner_id, version) VALUES ($1, $2, 1)',
        params: [e.data.noteId, e.data.ownerId],
      })),
    result: (events) => ({ noteId: events[0]?.data.noteId ?? '' }),
  }),
})

/** State-stored; only the note's owner or an admin edits it. */
export const editNote = defineCommand({
  domain,
  name: 'edit-note',
  summary: 'Change a note (its owner or an admin)',
  input: EditNoteInput,
  output: NoteIdResult,
  access: signedIn(),
  refusals: { 404: ['NOTE_NOT_FOUND'] },
  examples: [{ noteId: exampleNoteId, title: 'First note, edited' }],
  handle: stateStored({
    load: (tx, cmd: EditNote) => loadNote(tx, cmd.noteId),
    decide(cmd, state, meta) {
      if (state.status !== 'present') throw notFound()
      const caller = meta.caller
      if (caller?.id !== state.ownerId && !caller?.roles.includes('admin'))
        throw new ForbiddenError('Only its owner or an admin may change a note')
      const { noteId, title, body } = cmd
      return [
        NoteEdited.create({
          noteId,
          ...(title === undefined ? {} : { title }),
          ...(body === undefined ? {} : { body }),
          at: meta.now.toISOString(),
        }),
      ]
    },
    stream: (cmd, state) => ({
      id: streamId(cmd.noteId),
      expectedVersion: state.status === 'absent' ? 0 : state.version,
    }),
    persist: (events, state) => [
      {
        text: 'UPDATE notes.note SET version = $2 WHERE note_id = $1',
        params: [events[0]?.data.noteId, (state.status === 'absent' ? 0 : state.version) + events.length],
      },
    ],
    result: (_events, cmd) => ({ noteId: cmd.noteId }),
  }),
})

/** State-stored; its owner or an admin deletes a note: it leaves the read models. */
export const deleteNote = defineCommand({
  domain,
  name: 'delete-note',
  summary: 'Delete a note (its owner or an admin)',
  input: DeleteNoteInput,
  output: NoteIdResult,
  access: signedIn(),
  refusals: { 404: ['NOTE_NOT_FOUND'] },
  examples: [{ noteId: exampleNoteId }],
  handle: stateStored({
    load: (tx, cmd: DeleteNote) => loadNote(tx, cmd.noteId),
    decide(cmd, state, meta) {
      if (state.status !== 'present') throw notFound()
      if (meta.caller?.id !== state.ownerId && !meta.caller?.roles.includes('admin'))
        throw new ForbiddenError('Only its owner or an admin may delete a note')
      return [NoteDeleted.create({ noteId: cmd.noteId, at: meta.now.toISOString() })]
    },
    stream: (cmd, state) => ({
      id: streamId(cmd.noteId),
      expectedVersion: state.status === 'absent' ? 0 : state.version,
    }),
    persist: (events, state) => [
      {
        text: 'UPDATE notes.note SET version = $2, deleted = true WHERE note_id = $1',
        params: [events[0]?.data.noteId, (state.status === 'absent' ? 0 : state.version) + events.length],
      },
    ],
    result: (_events, cmd) => ({ noteId: cmd.noteId }),
  }),
})

/** Event-sourced: a note's comments are a stream of their own, folded to a count. */
export const addComment = defineCommand({
  domain,
  name: 'add-comment',
  summary: `Comment on a note (at most ${maxComments} per note)`,
  input: AddCommentInput,
  output: Type.Object({ comments: Type.Integer() }),
  access: signedIn(),
  refusals: { 409: ['TOO_MANY_COMMENTS'] },
  examples: [{ noteId: exampleNoteId, text: 'Nice' }],
  handle: eventSourced({
    streamId: (cmd: AddComment) => `note-comments-${cmd.noteId}`,
    initial: 0,
    evolve: (count: number) => count + 1,
    decide(cmd, count, meta) {
      if (count >= maxComments) throw new ConflictError('TOO_MANY_COMMENTS', 'Too many comments')
      return [
        CommentAdded.create({
          noteId: cmd.noteId,
          authorId: meta.caller?.id ?? '',
          text: cmd.text,
          at: meta.now.toISOString(),
        }),
      ]
    },
    result: (_events, _cmd, count) => ({ comments: count + 1 }),
  }),
})

export const commands = [createNote, editNote, addComment, deleteNote]
