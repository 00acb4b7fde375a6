import { createClient } from 'redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Caller } from '../../kernel/index.js'
import {
  logIdentity,
  redisUrl,
  servicesAvailable,
  startTestTandem,
  type TestTandem,
} from '../../kernel/testing.js'
import { createEvent, registerParticipant } from './commands.js'
import { getEventDetails } from './projections/event-details.js'

const organizer: Caller = { id: 'organizer', roles: ['organizer'] }
const person = (id: string): Caller => ({ id, roles: [] })

describe.runIf(servicesAvailable)('event registration when Redis cuts its connections (server)', () => {
  let t: TestTandem
  beforeAll(async () => {
    t = await startTestTandem('server')
  })
  afterAll(async () => t.dispose())

  it('takes every registration, and the read model catches up once Redis is back', async () => {
    const created = await t.commands.execute(
      createEvent,
      { title: 'Cut', startsAt: '2032-05-01T10:00:00Z', endsAt: '2032-05-01T12:00:00Z', capacity: 5000 },
      { caller: organizer },
    )
    if (created.status === 'failed') throw created.error
    const { eventId } = created.result
    const admin = createClient({ url: redisUrl })
    await admin.connect()
    // Only this Tandem's: other test files share the Redis server.
    const name = `tandem:${(await logIdentity(t.sql)).slice(0, 13)}`
    const cutTandemsConnections = async () => {
      const ids = (await admin.clientList()).filter((c) => c.name === name).map((c) => String(c.id))
      expect(ids.length).toBeGreaterThan(0)
      for (const id of ids) await admin.sendCommand(['CLIENT', 'KILL', 'ID', id])
    }
    try {
      for (let round = 0; round < 20; round++) {
        const sent = Array.from({ length: 20 }, (_, i) =>
          t.commands.execute(registerParticipant, { eventId }, { caller: person(`r-${round}-${i}`) }),
        )
        if (round % 2 === 1) await cutTandemsConnections()
        const outcomes = await Promise.all(sent)
        expect(outcomes.every((o) => o.status === 'succeeded')).toBe(true)
        await t.queries.ask(getEventDetails, { eventId }).catch(() => undefined)
      }
    } finally {
      await admin.quit()
    }
    await t.projections.caughtUp()
    const details = await t.queries.ask(getEventDetails, { eventId }, { useCache: false })
    if (details.status === 'failed') throw details.error
    expect(details.data.confirmedCount).toBe(400)
  })
})
