import { pino } from 'pino'
import { expect, it } from 'vitest'
import type { Caller } from '../core/messages.js'
import { headPosition } from '../storage/event-log.js'
import { logIdentity } from '../storage/schema.js'
import { createNote } from '../testing/notes-domain/commands.js'
import { notesDomain } from '../testing/notes-domain/index.js'
import { listNotes } from '../testing/notes-domain/projections.js'
import { testSecret } from '../testing/harness.js'
import { loadConfig } from './config.js'
import { startTandem, type Tandem } from './tandem.js'

const writer: Caller = { id: 'copy-writer', roles: ['writer'] }

/** In-memory Tandems of the notes domain, the later ones started from a copy of the first's database. */
const start = () =>
  startTandem({
    config: { ...loadConfig({}), authSecret: testSecret },
    domains: [notesDomain],
    inMemory: true,
    inMemoryCopies: true,
    log: pino({ level: 'silent' }),
  })

const notesOf = async (tandem: Tandem) => {
  await tandem.projections.caughtUp(20_000)
  const answer = await tandem.queries.ask(listNotes, {}, { caller: writer })
  if (answer.status !== 'succeeded') throw answer.error
  return answer.data.items.map((n) => n.title)
}

it('starts in-memory Tandems from a copy of a migrated database, each a log of its own', async () => {
  const first = await start()
  const later: Tandem[] = []
  try {
    const wrote = await first.commands.execute(
      createNote,
      { title: 'in the first', body: 'b' },
      { caller: writer },
    )
    expect(wrote.status).toBe('succeeded')
    // Started after the first one wrote: from the copy taken once it was migrated, before anything else.
    later.push(await start(), await start())
    const [second, third] = later as [Tandem, Tandem]
    for (const copy of later) {
      expect(await headPosition(copy.sql)).toBe('0')
      expect(await notesOf(copy)).toEqual([])
    }
    // Copies: their migrations were applied once, by the first.
    const appliedAt = (t: Tandem) =>
      t.sql.query<{ at: string }>('SELECT max(applied_at)::text AS at FROM tandem.migrations')
    expect(await appliedAt(second)).toEqual(await appliedAt(first))
    const identities = await Promise.all([first, second, third].map((t) => logIdentity(t.sql)))
    expect(new Set(identities).size).toBe(3)
    // Each works, and alone: a note written in one is in its read models only.
    const done = await second.commands.execute(
      createNote,
      { title: 'in the second', body: 'b' },
      { caller: writer },
    )
    expect(done.status).toBe('succeeded')
    expect(await notesOf(second)).toEqual(['in the second'])
    expect(await notesOf(third)).toEqual([])
    expect(await notesOf(first)).toEqual(['in the first'])
  } finally {
    for (const tandem of [first, ...later]) await tandem.close()
  }
})
