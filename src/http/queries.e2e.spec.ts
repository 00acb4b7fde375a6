import { randomUUID } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { Caller } from '../core/messages.js'
import {
  admin,
  alice,
  bob,
  commandUrl,
  createEventVia,
  expectInvalid,
  expectProblem,
  expectSucceeded,
  organizer,
  queryUrl,
  startTestServer,
  type TestServer,
} from '../testing/http.js'
import { modes } from '../testing/services.js'

interface Details {
  eventId: string
  startsAt: string
  confirmedCount: number
}
interface Page<T> {
  data: T[]
  nextCursor: string | null
}
interface Registration {
  registrationId: string
  eventId: string
  status: string
  waitlistPosition?: number
}

const hour = 3600_000
/** A window of time of its own, `n` hours wide, far from other tests' events. */
let windows = 0
function timeWindow(hours = 24): {
  from: string
  to: string
  at: (h: number) => { startsAt: string; endsAt: string }
} {
  windows += 1
  const start = Date.UTC(2040, 0, 1) + windows * 30 * 24 * hour
  const iso = (ms: number) => new Date(ms).toISOString()
  return {
    from: iso(start),
    to: iso(start + hours * hour),
    at: (h) => ({ startsAt: iso(start + h * hour), endsAt: iso(start + h * hour + hour) }),
  }
}

describe.each(modes)('event queries over HTTP (%s)', (mode) => {
  let s: TestServer
  beforeAll(async () => {
    s = await startTestServer(mode)
  })
  afterAll(() => s.close())
  afterEach(() => expect(s.serverErrors.splice(0)).toEqual([]))

  const register = async (eventId: string, caller: Caller, body: Record<string, unknown> = {}) =>
    expectSucceeded<{ registrationId: string; status: string }>(
      await s.post(commandUrl('register-participant'), { eventId, ...body }, { caller }),
    )

  describe('get-event-details', () => {
    it('answers { data } with the details, X-Cache miss then hit, X-Read-Position and Server-Timing', async () => {
      const { eventId, position } = await createEventVia(s, { title: 'Details', capacity: 4 })
      await s.settle(position)
      const url = queryUrl('get-event-details', { eventId })
      const first = await s.get(url)
      expect(first.statusCode).toBe(200)
      expect(first.headers['content-type']).toMatch(/^application\/json/)
      const body = first.json<{ data: Record<string, unknown> }>()
      expect(Object.keys(body)).toEqual(['data'])
      expect(Object.keys(body.data).sort()).toEqual(
        [
          'eventId',
          'title',
          'description',
          'venue',
          'startsAt',
          'endsAt',
          'capacity',
          'confirmedCount',
          'waitlistCount',
          'remainingSeats',
          'organizerId',
          'createdAt',
          'updatedAt',
        ].sort(),
      )
      expect(body.data).toMatchObject({ eventId, title: 'Details', capacity: 4, remainingSeats: 4 })
      expect(first.headers['x-cache']).toBe('miss')
      expect(first.headers['x-read-position']).toMatch(/^[0-9]+$/)
      expect(BigInt(String(first.headers['x-read-position']))).toBeGreaterThanOrEqual(BigInt(position))
      expect(first.headers['server-timing']).toMatch(/^query;dur=[0-9.]+$/)
      expect(first.headers['x-request-id']).toEqual(expect.any(String))

      const second = await s.get(url)
      expect(second.statusCode).toBe(200)
      expect(second.headers['x-cache']).toBe('hit')
      expect(second.json()).toEqual(body)
      expect(second.headers['x-read-position']).toMatch(/^[0-9]+$/)
    })

    it('drops the cached answer when a registration changes the seats', async () => {
      const { eventId, position } = await createEventVia(s, { capacity: 4 })
      await s.settle(position)
      const url = queryUrl('get-event-details', { eventId })
      expect((await s.get(url)).headers['x-cache']).toBe('miss')
      expect((await s.get(url)).headers['x-cache']).toBe('hit')
      const registered = await register(eventId, alice)
      const after = await s.get(url, { headers: { 'x-min-position': registered.position } })
      expect(after.headers['x-cache']).toBe('miss')
      expect(after.json<{ data: Details }>().data).toMatchObject({ confirmedCount: 1, remainingSeats: 3 })
    })

    it('answers 404 EVENT_NOT_FOUND for an unknown event', async () => {
      expectProblem(
        await s.get(queryUrl('get-event-details', { eventId: randomUUID() })),
        404,
        'EVENT_NOT_FOUND',
      )
    })
  })

  describe('read-your-writes', () => {
    it('with X-Min-Position set to a command position, every read sees that command', async () => {
      const { eventId } = await createEventVia(s, { capacity: 10 })
      for (let n = 1; n <= 5; n++) {
        const registered = await register(eventId, { id: `ryw-${n}`, roles: [] })
        const read = await s.get(queryUrl('get-event-details', { eventId }), {
          headers: { 'x-min-position': registered.position },
        })
        expect(read.statusCode).toBe(200)
        expect(read.json<{ data: Details }>().data.confirmedCount).toBe(n)
        expect(BigInt(String(read.headers['x-read-position']))).toBeGreaterThanOrEqual(
          BigInt(registered.position),
        )
      }
    })

    it('sees a registration in the registrations read model too', async () => {
      const { eventId } = await createEventVia(s)
      const registered = await register(eventId, { id: 'ryw-list', roles: [] })
      const read = await s.get(queryUrl('list-my-registrations'), {
        caller: { id: 'ryw-list', roles: [] },
        headers: { 'x-min-position': registered.position },
      })
      expect(read.json<Page<Registration>>().data.map((r) => r.registrationId)).toEqual([
        registered.result.registrationId,
      ])
    })

    it('answers 503 READ_MODEL_LAGGING for a position far ahead, after about X-Max-Wait-Ms', async () => {
      const ahead = (BigInt(await s.head()) + 1_000_000n).toString()
      const started = Date.now()
      const response = await s.get(queryUrl('list-upcoming-events'), {
        headers: { 'x-min-position': ahead, 'x-max-wait-ms': '150' },
      })
      const took = Date.now() - started
      expectProblem(response, 503, 'READ_MODEL_LAGGING')
      expect(took).toBeGreaterThanOrEqual(140)
      expect(took).toBeLessThan(2500)
    })

    it('answers 503 READ_MODEL_LAGGING at once with X-Max-Wait-Ms 0', async () => {
      const ahead = (BigInt(await s.head()) + 10n).toString()
      const response = await s.get(queryUrl('get-event-details', { eventId: randomUUID() }), {
        headers: { 'x-min-position': ahead, 'x-max-wait-ms': '0' },
      })
      expectProblem(response, 503, 'READ_MODEL_LAGGING')
    })

    it('accepts X-Max-Wait-Ms 10000, the maximum', async () => {
      const { position } = await createEventVia(s)
      const response = await s.get(queryUrl('list-upcoming-events'), {
        headers: { 'x-min-position': position, 'x-max-wait-ms': '10000' },
      })
      expect(response.statusCode).toBe(200)
    })

    // Position 0 is before every event: every read model has applied it.
    it('answers at once for X-Min-Position 0', async () => {
      const response = await s.get(queryUrl('list-upcoming-events'), {
        headers: { 'x-min-position': '0', 'x-max-wait-ms': '500' },
      })
      expect(response.statusCode).toBe(200)
    })

    it('does not fail with a 500 for a 19-digit position beyond the log position type', async () => {
      const response = await s.get(queryUrl('list-upcoming-events'), {
        headers: { 'x-min-position': '9999999999999999999', 'x-max-wait-ms': '100' },
      })
      expect([400, 503]).toContain(response.statusCode)
      expect(response.json<{ code: string }>().code).toMatch(/^(VALIDATION_FAILED|READ_MODEL_LAGGING)$/)
    })

    it.each([
      ['x-min-position', 'abc'],
      ['x-min-position', '-1'],
      ['x-min-position', '1.5'],
      ['x-min-position', '12345678901234567890'],
      ['x-min-position', ''],
      ['x-max-wait-ms', '10001'],
      ['x-max-wait-ms', '99999'],
      ['x-max-wait-ms', 'abc'],
      ['x-max-wait-ms', '-1'],
      ['x-max-wait-ms', '1.5'],
    ])('answers 400 for %s: %j', async (name, value) => {
      const response = await s.get(queryUrl('list-upcoming-events'), { headers: { [name]: value } })
      expectInvalid(response, `/headers/${name}`)
    })
  })

  describe('list-upcoming-events', () => {
    let last = '0'
    /** Lists at the position of the last event this block created. */
    const list = async (params: Record<string, string | number>) => {
      const response = await s.get(queryUrl('list-upcoming-events', params), {
        headers: { 'x-min-position': last },
      })
      expect(response.statusCode).toBe(200)
      return response
    }

    it('answers { data, nextCursor } and pages by start time then id, without loss or repeats', async () => {
      const w = timeWindow()
      const created: { eventId: string; startsAt: string }[] = []
      for (const h of [5, 1, 3, 3, 2]) {
        const slot = w.at(h)
        const event = await createEventVia(s, slot)
        last = event.position
        created.push({ eventId: event.eventId, startsAt: slot.startsAt })
      }
      const expected = created
        .sort((a, b) =>
          a.startsAt === b.startsAt ? (a.eventId < b.eventId ? -1 : 1) : a.startsAt < b.startsAt ? -1 : 1,
        )
        .map((e) => e.eventId)

      const seen: string[] = []
      const sizes: number[] = []
      let cursor: string | null = null
      do {
        const response = await list({ from: w.from, to: w.to, limit: 2, ...(cursor ? { cursor } : {}) })
        const page = response.json<Page<Details>>()
        expect(Object.keys(page).sort()).toEqual(['data', 'nextCursor'])
        expect(response.headers['x-cache']).toMatch(/^(hit|miss)$/)
        expect(response.headers['x-read-position']).toMatch(/^[0-9]+$/)
        expect(response.headers['server-timing']).toMatch(/^query;dur=/)
        seen.push(...page.data.map((e) => e.eventId))
        sizes.push(page.data.length)
        cursor = page.nextCursor
      } while (cursor !== null && sizes.length < 10)
      expect(seen).toEqual(expected)
      expect(sizes).toEqual([2, 2, 1])
    })

    it('gives 20 by default and at most limit', async () => {
      const w = timeWindow()
      for (let h = 1; h <= 21; h++) last = (await createEventVia(s, w.at(h))).position
      const byDefault = (await list({ from: w.from, to: w.to })).json<Page<Details>>()
      expect(byDefault.data).toHaveLength(20)
      expect(byDefault.nextCursor).toEqual(expect.any(String))
      const all = (await list({ from: w.from, to: w.to, limit: 100 })).json<Page<Details>>()
      expect(all.data).toHaveLength(21)
      expect(all.nextCursor).toBeNull()
      expect((await list({ from: w.from, to: w.to, limit: 1 })).json<Page<Details>>().data).toHaveLength(1)
    })

    it('keeps to the from/to window', async () => {
      const w = timeWindow(10)
      const inside = await createEventVia(s, w.at(4))
      const before = await createEventVia(s, w.at(-2))
      const after = await createEventVia(s, w.at(12))
      last = after.position
      const ids = (await list({ from: w.from, to: w.to, limit: 100 }))
        .json<Page<Details>>()
        .data.map((e) => e.eventId)
      expect(ids).toContain(inside.eventId)
      expect(ids).not.toContain(before.eventId)
      expect(ids).not.toContain(after.eventId)
    })

    it('leaves out events that have started', async () => {
      s.tandem.shiftClock(-2 * hour)
      const started = await createEventVia(s, {
        startsAt: new Date(Date.now() - hour).toISOString(),
        endsAt: new Date(Date.now() + hour).toISOString(),
      }).finally(() => s.tandem.shiftClock(0))
      last = started.position
      const ids = (
        await list({ from: '2000-01-01T00:00:00Z', to: new Date(Date.now() + 2 * hour).toISOString() })
      )
        .json<Page<Details>>()
        .data.map((e) => e.eventId)
      expect(ids).not.toContain(started.eventId)
    })

    it('works without a token', async () => {
      const response = await s.get(queryUrl('list-upcoming-events'))
      expect(response.statusCode).toBe(200)
      expect(Array.isArray(response.json<Page<Details>>().data)).toBe(true)
    })
  })

  describe('list-my-registrations', () => {
    const eve: Caller = { id: 'eve', roles: [] }

    it("lists the caller's registrations newest first, by status, page by page", async () => {
      const first = await createEventVia(s, { title: 'First', capacity: 5 })
      const second = await createEventVia(s, { title: 'Second', capacity: 1 })
      const third = await createEventVia(s, { title: 'Third', capacity: 5 })
      const r1 = await register(first.eventId, eve)
      await register(second.eventId, alice)
      const r2 = await register(second.eventId, eve, { waitlist: true })
      const r3 = await register(third.eventId, eve)
      const cancelled = expectSucceeded(
        await s.post(commandUrl('cancel-registration'), { eventId: third.eventId }, { caller: eve }),
      )
      const at = { 'x-min-position': cancelled.position }

      const all = await s.get(queryUrl('list-my-registrations'), { caller: eve, headers: at })
      expect(all.statusCode).toBe(200)
      const page = all.json<Page<Registration>>()
      expect(Object.keys(page).sort()).toEqual(['data', 'nextCursor'])
      expect(page.nextCursor).toBeNull()
      expect(page.data).toMatchObject([
        { registrationId: r3.result.registrationId, status: 'cancelled', eventTitle: 'Third' },
        { registrationId: r2.result.registrationId, status: 'waitlisted', waitlistPosition: 1 },
        { registrationId: r1.result.registrationId, status: 'confirmed', eventTitle: 'First' },
      ])

      for (const [status, expected] of [
        ['confirmed', r1],
        ['waitlisted', r2],
        ['cancelled', r3],
      ] as const) {
        const filtered = await s.get(queryUrl('list-my-registrations', { status }), {
          caller: eve,
          headers: at,
        })
        expect(filtered.json<Page<Registration>>().data.map((r) => r.registrationId)).toEqual([
          expected.result.registrationId,
        ])
      }

      const paged: string[] = []
      let cursor: string | null = null
      for (let n = 0; n < 5; n++) {
        const params: Record<string, string | number> = { limit: 1, ...(cursor ? { cursor } : {}) }
        const next = (
          await s.get(queryUrl('list-my-registrations', params), { caller: eve, headers: at })
        ).json<Page<Registration>>()
        paged.push(...next.data.map((r) => r.registrationId))
        cursor = next.nextCursor
        if (cursor === null) break
      }
      expect(paged).toEqual(page.data.map((r) => r.registrationId))
    })

    it("lets an admin list another participant's registrations", async () => {
      const { eventId } = await createEventVia(s)
      const registered = await register(eventId, bob)
      const response = await s.get(queryUrl('list-my-registrations', { participantId: bob.id }), {
        caller: admin,
        headers: { 'x-min-position': registered.position },
      })
      expect(response.statusCode).toBe(200)
      expect(response.json<Page<Registration>>().data.map((r) => r.registrationId)).toContain(
        registered.result.registrationId,
      )
    })

    it('lets a participant name themself', async () => {
      const response = await s.get(queryUrl('list-my-registrations', { participantId: organizer.id }), {
        caller: organizer,
      })
      expect(response.statusCode).toBe(200)
    })
  })
})
