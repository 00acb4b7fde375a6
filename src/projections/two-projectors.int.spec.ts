import { afterAll, beforeAll, expect, it } from 'vitest'
import type { Caller } from '../core/messages.js'
import { createEvent, registerParticipant } from '../domains/events/commands.js'
import { eventsDomain } from '../domains/events/index.js'
import { getEventDetails } from '../domains/events/projections/event-details.js'
import { startTestProcesses, type TestTandem } from '../testing/harness.js'
import { servicesAvailable } from '../testing/services.js'

/**
 * Two projectors on one store race for each batch: the loser goes on from the winner's checkpoint,
 * and its next report covers the winner's events. A query process that had that report before the
 * winner's cache tags served an answer cached before them to a read for a position past them (a
 * tester's loops: 4 stale answers in 480, `X-Cache: hit`, `X-Read-Position` the command's own).
 */
const organizer: Caller = { id: 'org', roles: ['organizer'] }
let processes: TestTandem[] = []
let [writer, reader] = [] as unknown as [TestTandem, TestTandem]

beforeAll(async () => {
  if (!servicesAvailable) return
  processes = await startTestProcesses(
    'server',
    [
      { roles: ['command'] },
      { roles: ['projector'] },
      // Its messages late: what it applies reaches the query process after the other's next reports.
      { roles: ['projector'], feedCoalesceMs: 150 },
      { roles: ['query'] },
    ],
    // No backstop poll within the test: what the query process knows comes through the feed.
    { pollMs: 60_000, domains: [eventsDomain] },
  )
  ;[writer, , , reader] = processes as [TestTandem, TestTandem, TestTandem, TestTandem]
})
afterAll(async () => {
  for (const process of processes.reverse()) await process.dispose()
})

async function newEvent(title: string, capacity: number): Promise<string> {
  const created = await writer.commands.execute(
    createEvent,
    { title, startsAt: '2031-03-01T10:00:00Z', endsAt: '2031-03-01T12:00:00Z', capacity },
    { caller: organizer },
  )
  if (created.status === 'failed') throw created.error
  return created.result.eventId
}

/** A registration through the command process; the position it was written at. */
async function register(eventId: string, participant: string): Promise<bigint> {
  const done = await writer.commands.execute(
    registerParticipant,
    { eventId },
    { caller: { id: participant, roles: [] } },
  )
  if (done.status === 'failed') throw done.error
  return BigInt(done.position ?? '0')
}

it.runIf(servicesAvailable)(
  'answers a read for a position with what was applied by then, though another projector applied it',
  { timeout: 120_000 },
  async () => {
    const loops = 8
    const rounds = 30
    const stale: string[] = []
    // Writes beside the loops: the projectors race for batches all the while.
    let writing = true
    const background = Array.from({ length: 4 }, async (_, n) => {
      const eventId = await newEvent(`Busy ${n}`, 100_000)
      for (let i = 0; writing; i++) await register(eventId, `busy-${n}-${i}`)
    })
    await Promise.all(
      Array.from({ length: loops }, async (_, loop) => {
        const eventId = await newEvent(`Loop ${loop}`, 500)
        for (let round = 1; round <= rounds; round++) {
          // Cached before the registration, then asked for the registration's position.
          await reader.queries.ask(getEventDetails, { eventId }, { maxWaitMs: 30_000 })
          const position = await register(eventId, `p-${loop}-${round}`)
          const asked = await reader.queries.ask(
            getEventDetails,
            { eventId },
            { minPosition: position, maxWaitMs: 30_000 },
          )
          if (asked.status === 'failed') throw asked.error
          if (asked.data.confirmedCount !== round)
            stale.push(`${loop}/${round}: ${asked.data.confirmedCount} (hit: ${asked.cacheHit})`)
        }
      }),
    ).finally(() => (writing = false))
    await Promise.all(background)
    expect(stale).toEqual([])
  },
)
