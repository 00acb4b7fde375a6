import Type, { type Static } from 'typebox'
import { defineEvent, Id, Text } from '../../kernel/index.js'

/**
 * The notes domain: a test domain small enough to read at once, with one of each thing the platform
 * serves, so platform tests do not depend on a business domain. Notes are state-stored (a table),
 * their comments event-sourced (a stream per note, no table).
 */

const strict = { additionalProperties: false } as const
const Time = Type.String({ format: 'date-time' })

export const CreateNoteInput = Type.Object(
  {
    noteId: Type.Optional(Id()),
    title: Text(100),
    body: Type.Optional(Type.String({ maxLength: 1000 })),
  },
  strict,
)
export const EditNoteInput = Type.Object(
  { noteId: Id(), title: Type.Optional(Text(100)), body: Type.Optional(Type.String({ maxLength: 1000 })) },
  { ...strict, minProperties: 2 },
)
export const DeleteNoteInput = Type.Object({ noteId: Id() }, strict)
export const AddCommentInput = Type.Object({ noteId: Id(), text: Text(200) }, strict)

export type CreateNote = Static<typeof CreateNoteInput>
export type EditNote = Static<typeof EditNoteInput>
export type DeleteNote = Static<typeof DeleteNoteInput>
export type AddComment = Static<typeof AddCommentInput>

export const NoteCreated = defineEvent(
  'NoteCreated',
  Type.Object({ noteId: Id(), ownerId: Type.String(), title: Type.String(), body: Type.String(), at: Time }),
)
export const NoteEdited = defineEvent(
  'NoteEdited',
  Type.Object({
    noteId: Id(),
    title: Type.Optional(Type.String()),
    body: Type.Optional(Type.String()),
    at: Time,
  }),
)
export const NoteDeleted = defineEvent('NoteDeleted', Type.Object({ noteId: Id(), at: Time }))
export const CommentAdded = defineEvent(
  'CommentAdded',
  Type.Object({ noteId: Id(), authorId: Type.String(), text: Type.String(), at: Time }),
)

export const noteEvents = [NoteCreated, NoteEdited, NoteDeleted, CommentAdded]
export type NoteEvent = ReturnType<(typeof noteEvents)[number]['create']>
