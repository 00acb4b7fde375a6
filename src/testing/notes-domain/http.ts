import type { Caller } from '../../kernel/index.js'
import { commandUrl, expectSucceeded, queryUrl, type TestServer } from '../http.js'
import { writer } from './index.js'

/** The notes domain over HTTP, for platform tests. */
export const noteCommand = (name: string) => commandUrl('notes', name)
export const noteQuery = (name: string, params: Record<string, string | number | boolean> = {}) =>
  queryUrl('notes', name, params)

/** Creates a note as `writer` (or `by`) and returns its id and the command's position. */
export async function createNoteVia(
  server: TestServer,
  fields: Record<string, unknown> = {},
  by: Caller = writer,
): Promise<{ noteId: string; position: string }> {
  const answer = expectSucceeded<{ noteId: string }>(
    await server.post(noteCommand('create-note'), { title: 'A note', ...fields }, { caller: by }),
  )
  return { noteId: answer.result.noteId, position: answer.position }
}

/** The note as `get-note` answers once the read model has applied `position`. */
export async function noteAt(
  server: TestServer,
  noteId: string,
  position: string,
): Promise<{ title: string; body: string; comments: number }> {
  const response = await server.get(noteQuery('get-note', { noteId }), {
    headers: { 'x-min-position': position },
  })
  return response.json<{ data: { title: string; body: string; comments: number } }>().data
}
