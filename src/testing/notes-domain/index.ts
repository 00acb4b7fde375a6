import type { Caller, Domain } from '../../kernel/index.js'
import { commands, migrations } from './commands.js'
import { noteEvents } from './messages.js'
import { getNote, listNotes, noteDetailsProjection, noteListProjection } from './projections.js'
import { recentNotes } from './recent-notes.js'

export { exampleNoteId, maxComments } from './commands.js'

/**
 * The test domain platform tests run on (src/http/*.spec.ts): a state-stored and an event-sourced
 * command, a KV and a SQL projection, a live query, a paged one and a paged one that streams its items,
 * roles and ownership.
 */
export const notesDomain: Domain = {
  name: 'notes',
  events: noteEvents,
  commands,
  queries: [getNote, listNotes, recentNotes],
  projections: [noteDetailsProjection, noteListProjection],
  migrations,
}

/** Writers create notes and change their own; an admin changes anyone's; readers only read and comment. */
export const writer: Caller = { id: 'writer-1', roles: ['writer'] }
export const otherWriter: Caller = { id: 'writer-2', roles: ['writer'] }
export const reader: Caller = { id: 'reader-1', roles: [] }
