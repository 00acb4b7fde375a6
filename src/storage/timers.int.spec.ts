import Type, { type Static } from 'typebox'
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import type { Domain } from '../app/domain.js'
import { eventSourced, stateStored } from '../core/decider.js'
import { ConflictError, UnavailableError } from '../core/errors.js'
import { defineCommand, defineEvent, signedIn, type Caller, type CommandContext } from '../core/messages.js'
import type { Sql } from '../core/sql.js'
import { buildServer } from '../http/server.js'
import { startTestProcesses, startTestTandem, type TestTandem } from '../testing/harness.js'
import { modes } from '../testing/services.js'
import { createCommandBus } from '../core/command-bus.js'
import { createRegistry } from '../core/registry.js'
import { readStream } from './event-log.js'
import { createUnitOfWork } from './unit-of-work.js'
import { createScheduler } from './scheduler.js'
import { timerCaller } from './timers.js'

const minute = 60_000
const day = 24 * 60 * minute

/** A drill: started with a deadline (a timer that expires it), extended, submitted or expired. */
const Started = defineEvent('DrillStarted', Type.Object({}))
const Extended = defineEvent('DrillExtended', Type.Object({}))
const Submitted = defineEvent('DrillSubmitted', Type.Object({}))
const Expired = defineEvent('DrillExpired', Type.Object({}))
type DrillEvent = ReturnType<(typeof Started | typeof Extended | typeof Submitted | typeof Expired)['create']>
type Drill = { status: 'new' | 'open' | 'closed' }

const DrillInput = Type.Object({ drillId: Type.String(), seconds: Type.Optional(Type.Integer()) })
const deadline = (drillId: string) => `drill:${drillId}:deadline`
const drillShell = {
  streamId: (input: Static<typeof DrillInput>) => `drill-${input.drillId}`,
  initial: { status: 'new' } as Drill,
  evolve: (_: Drill, event: DrillEvent): Drill => ({
    status: event.type === 'DrillStarted' || event.type === 'DrillExtended' ? 'open' : 'closed',
  }),
  result: () => ({}),
}
const whileOpen = (state: Drill, event: DrillEvent) => {
  if (state.status !== 'open') throw new ConflictError('DRILL_CLOSED', 'The drill is not open')
  return [event]
}
/** Sets (or replaces) the drill's deadline `seconds` after now. */
const setDeadline = (
  _events: unknown,
  input: Static<typeof DrillInput>,
  _state: unknown,
  meta: { now: Date },
) => [
  {
    schedule: {
      key: deadline(input.drillId),
      command: 'drills/expire',
      input: { drillId: input.drillId },
      at: new Date(meta.now.getTime() + (input.seconds ?? 60) * 1000),
    },
  },
]
type DrillHandler = (input: Static<typeof DrillInput>, ctx: CommandContext) => Promise<object>
const drillCommand = (name: string, handle: DrillHandler, access = signedIn()) =>
  defineCommand({
    domain: 'drills',
    name,
    summary: name,
    input: DrillInput,
    output: Type.Object({}),
    access,
    handle,
  })

const start = drillCommand(
  'start',
  eventSourced({
    ...drillShell,
    decide: (_input, state) => {
      if (state.status !== 'new') throw new ConflictError('DRILL_STARTED', 'Already started')
      return [Started.create({})]
    },
    timers: setDeadline,
  }),
)
const extend = drillCommand(
  'extend',
  eventSourced({ ...drillShell, decide: (_i, s) => whileOpen(s, Extended.create({})), timers: setDeadline }),
)
const submit = drillCommand(
  'submit',
  eventSourced({
    ...drillShell,
    decide: (_i, s) => whileOpen(s, Submitted.create({})),
    timers: (_e, input) => [{ cancel: deadline(input.drillId) }],
  }),
)
const expire = drillCommand(
  'expire',
  eventSourced({ ...drillShell, decide: (_i, s) => whileOpen(s, Expired.create({})) }),
  signedIn('system'),
)

/** A monthly auto-payment (state-stored): each charge schedules the next one, 30 days after it. */
const Charged = defineEvent('Charged', Type.Object({ at: Type.String() }))
const AccountInput = Type.Object({ accountId: Type.String() })
const chargeMonthly = defineCommand({
  domain: 'drills',
  name: 'charge-monthly',
  summary: 'Charge now, and again in 30 days',
  input: AccountInput,
  output: Type.Object({}),
  access: signedIn(),
  handle: stateStored({
    async load(tx, input: Static<typeof AccountInput>) {
      const [row] = await tx.query<{ version: number }>(
        'SELECT coalesce(max(stream_version), 0)::int AS version FROM tandem.event_log WHERE stream_id = $1',
        [`account-${input.accountId}`],
      )
      return { version: row?.version ?? 0 }
    },
    decide: (_input, _state, meta) => [Charged.create({ at: meta.now.toISOString() })],
    stream: (input, state) => ({ id: `account-${input.accountId}`, expectedVersion: state.version }),
    persist: () => [],
    result: () => ({}),
    timers: (_events, input, _state, meta) => [
      {
        schedule: {
          key: `account:${input.accountId}:monthly`,
          command: 'drills/charge-monthly',
          input,
          at: new Date(meta.now.getTime() + 30 * day),
        },
      },
    ],
  }),
})

/** How many times each key's `tick` ran, across every process in this file. */
const ticks = new Map<string, number>()
const tickCount = (key: string) => ticks.get(key) ?? 0
const KeyInput = Type.Object({ key: Type.String(), failures: Type.Optional(Type.Integer()) })
const tick = defineCommand({
  domain: 'drills',
  name: 'tick',
  summary: 'Counts its runs; fails `failures` times first (503)',
  input: KeyInput,
  output: Type.Object({}),
  access: signedIn('system'),
  async handle(input) {
    const runs = tickCount(input.key) + 1
    ticks.set(input.key, runs)
    if (runs <= (input.failures ?? 0)) throw new UnavailableError('UNAVAILABLE', 'Not now')
    return {}
  },
})
const refuse = defineCommand({
  domain: 'drills',
  name: 'refuse',
  summary: 'Always refused',
  input: Type.Object({}),
  output: Type.Object({}),
  access: signedIn(),
  handle: async () => {
    throw new ConflictError('NOPE', 'Refused')
  },
})

/** Schedules (and cancels) timers from its shell, then refuses if asked to. */
const PlanInput = Type.Object({
  timers: Type.Array(
    Type.Object({ key: Type.String(), command: Type.String(), input: Type.Unknown(), inMs: Type.Integer() }),
  ),
  cancel: Type.Optional(Type.Array(Type.String())),
  refuse: Type.Optional(Type.Boolean()),
})
const plan = defineCommand({
  domain: 'drills',
  name: 'plan',
  summary: 'Schedule timers',
  input: PlanInput,
  output: Type.Object({}),
  access: signedIn(),
  async handle(input, { tx, meta }) {
    for (const t of input.timers) {
      tx.schedule({
        key: t.key,
        command: t.command,
        input: t.input,
        at: new Date(meta.now.getTime() + t.inMs),
      })
    }
    for (const key of input.cancel ?? []) tx.cancelSchedule(key)
    if (input.refuse) throw new ConflictError('PLAN_REFUSED', 'Refused after scheduling')
    return {}
  },
})

const drills: Domain = {
  name: 'drills',
  events: [Started, Extended, Submitted, Expired, Charged],
  commands: [start, extend, submit, expire, chargeMonthly, tick, refuse, plan],
  queries: [],
  projections: [],
  migrations: [],
}

const user: Caller = { id: 'user-1', roles: [] }

interface TimerRow {
  key: string
  id: string
  command: string
  input: unknown
  caller: Caller
  due_at: Date
  attempts: number
  last_error: string | null
  scheduled_by: { commandId: string; correlationId: string; command: string; userId?: string }
}

function helpers(t: () => TestTandem) {
  return {
    async send(
      command: string,
      input: unknown,
      options: { idempotencyKey?: string; correlationId?: string } = {},
    ) {
      return t().commands.execute(`drills/${command}`, input, { caller: user, ...options })
    },
    async timer(key: string): Promise<TimerRow | undefined> {
      const [row] = await t().sql.query<TimerRow>(
        `SELECT key, id::text, command, input, caller, due_at, attempts, last_error, scheduled_by
         FROM tandem.timers WHERE key = $1`,
        [key],
      )
      return row
    },
    async types(stream: string) {
      return (await readStream(t().sql, stream)).map((e) => e.type)
    },
  }
}

describe.each(modes)('timers (%s)', (mode) => {
  let t: TestTandem
  const { send, timer, types } = helpers(() => t)
  beforeAll(async () => {
    t = await startTestTandem(mode, { domains: [drills], timers: 'loop' })
  })
  afterAll(async () => t.dispose())
  beforeEach(async () => {
    t.shiftClock(0)
    ticks.clear()
    await t.sql.query('DELETE FROM tandem.timers')
  })

  describe('scheduling', () => {
    it('stores the timer with the command that scheduled it, in its transaction', async () => {
      const done = await send('start', { drillId: 's1', seconds: 600 }, { correlationId: 'corr-s1' })
      expect(done.status).toBe('succeeded')
      const row = await timer(deadline('s1'))
      expect(row).toMatchObject({
        command: 'drills/expire',
        input: { drillId: 's1' },
        caller: timerCaller,
        attempts: 0,
        scheduled_by: { commandId: done.commandId, correlationId: 'corr-s1', command: 'drills/start' },
      })
      expect(Math.abs(Number(row?.due_at) - (Date.now() + 600_000))).toBeLessThan(5000)
    })

    it('schedules nothing for a refused command, with or without an idempotency key', async () => {
      await send('start', { drillId: 's2', seconds: 600 })
      const first = await timer(deadline('s2'))
      // Refused by the decider: the first deadline stays as it was.
      expect((await send('start', { drillId: 's2', seconds: 5 })).status).toBe('failed')
      expect(await timer(deadline('s2'))).toEqual(first)
      // Refused by a handler after it scheduled: nothing of it commits.
      const planned = {
        timers: [{ key: 'p1', command: 'drills/tick', input: { key: 'p1' }, inMs: 0 }],
        refuse: true,
      }
      expect((await send('plan', planned)).status).toBe('failed')
      const keyed = await send('plan', planned, { idempotencyKey: 'plan-refused' })
      expect(keyed.status === 'failed' && keyed.error.code).toBe('PLAN_REFUSED')
      expect(await timer('p1')).toBeUndefined()
    })

    it("tells its process's scheduler of the earliest timer once committed, and not when refused", async () => {
      const told: number[] = []
      const bus = createCommandBus({
        registry: createRegistry({ commands: [plan], queries: [] }),
        unitOfWork: createUnitOfWork({ sql: t.sql, onScheduled: (at) => told.push(+at) }),
        middleware: [],
        clock: () => new Date(Date.UTC(2030, 0, 1)),
      })
      const timers = [60, 5, 30].map((s) => ({
        key: `e${s}`,
        command: 'drills/tick',
        input: { key: `e${s}` },
        inMs: s * 1000,
      }))
      expect((await bus.execute(plan, { timers }, { caller: user })).status).toBe('succeeded')
      expect((await bus.execute(plan, { timers, refuse: true }, { caller: user })).status).toBe('failed')
      expect(told).toEqual([Date.UTC(2030, 0, 1, 0, 0, 5)])
    })
  })

  describe('firing', () => {
    it('fires once at the moment, not before, as the scheduling command correlated', async () => {
      await send('start', { drillId: 'f1', seconds: 600 }, { correlationId: 'corr-f1' })
      t.shiftClock(599_000)
      await t.timers.runDue()
      expect(await types('drill-f1')).toEqual(['DrillStarted'])
      t.shiftClock(600_500)
      await t.timers.runDue()
      await t.timers.runDue()
      const events = await readStream(t.sql, 'drill-f1')
      expect(events.map((e) => e.type)).toEqual(['DrillStarted', 'DrillExpired'])
      expect(events[1]?.metadata).toMatchObject({ correlationId: 'corr-f1', userId: timerCaller.id })
      expect(await timer(deadline('f1'))).toBeUndefined()
    })

    it('wakes up by itself at the next due time', async () => {
      await send('plan', { timers: [{ key: 'w1', command: 'drills/tick', input: { key: 'w1' }, inMs: 50 }] })
      await vi.waitFor(() => expect(tickCount('w1')).toBe(1), { timeout: 4000, interval: 10 })
      await vi.waitFor(async () => expect(await timer('w1')).toBeUndefined(), { timeout: 4000 })
    })

    it('sleeps until the next due time, or until told of an earlier one, not until the next poll', async () => {
      // A scheduler a day ahead of this Tandem's (which sees nothing due), polling once an hour.
      const fired: string[] = []
      /** How many timers had fired each time it looked for the next due time. */
      const looked: number[] = []
      const watched: Sql = {
        ...t.sql,
        async query<R extends object>(text: string, params?: readonly unknown[]) {
          const rows = await t.sql.query<R>(text, params)
          if (text.includes('min(fire_at)')) looked.push(fired.length)
          return rows
        },
      }
      const ahead = createScheduler({
        sql: watched,
        commands: t.commands,
        clock: () => new Date(Date.now() + day),
        pollMs: 60 * minute,
        onFired: (outcome) => fired.push(outcome),
      })
      const tickIn = (key: string, inMs: number) => ({ key, command: 'drills/tick', input: { key }, inMs })
      await send('plan', { timers: [tickIn('z1', day + 100), tickIn('z2', day + 300)] })
      ahead.start()
      try {
        await vi.waitFor(() => expect(fired).toEqual(['fired', 'fired']), { timeout: 4000, interval: 10 })
        // Asleep until the next poll, an hour away; then told of a timer as the unit of work tells it.
        await vi.waitFor(() => expect(looked).toContain(2), { timeout: 4000 })
        await new Promise((resolve) => setTimeout(resolve, 20))
        await send('plan', { timers: [tickIn('z3', day + 100)] })
        ahead.scheduled(new Date(Date.now() + day + 100))
        await vi.waitFor(() => expect(fired).toHaveLength(3), { timeout: 4000, interval: 10 })
        expect(['z1', 'z2', 'z3'].map(tickCount)).toEqual([1, 1, 1])
      } finally {
        await ahead.stop()
      }
    })

    it('is not fired once cancelled', async () => {
      await send('start', { drillId: 'c1', seconds: 60 })
      expect((await send('submit', { drillId: 'c1' })).status).toBe('succeeded')
      expect(await timer(deadline('c1'))).toBeUndefined()
      await send('plan', {
        timers: [{ key: 'c2', command: 'drills/tick', input: { key: 'c2' }, inMs: 1000 }],
      })
      await send('plan', { timers: [], cancel: ['c2'] })
      t.shiftClock(2 * minute)
      await t.timers.runDue()
      expect(await types('drill-c1')).toEqual(['DrillStarted', 'DrillSubmitted'])
      expect(tickCount('c2')).toBe(0)
    })

    it('replaces a timer of the same key', async () => {
      await send('start', { drillId: 'r1', seconds: 60 })
      const first = await timer(deadline('r1'))
      await send('extend', { drillId: 'r1', seconds: 600 })
      const second = await timer(deadline('r1'))
      expect(second?.id).not.toBe(first?.id)
      expect(Number(second?.due_at) - Number(first?.due_at)).toBeGreaterThan(500_000)
      t.shiftClock(2 * minute)
      await t.timers.runDue()
      expect(await types('drill-r1')).toEqual(['DrillStarted', 'DrillExtended'])
      t.shiftClock(11 * minute)
      await t.timers.runDue()
      expect(await types('drill-r1')).toEqual(['DrillStarted', 'DrillExtended', 'DrillExpired'])
    })

    it('fires once when late by months, not once per missed month', async () => {
      await send('charge-monthly', { accountId: 'a1' })
      t.shiftClock(95 * day) // the process was down for three months
      await t.timers.runDue()
      await t.timers.runDue()
      expect(await types('account-a1')).toEqual(['Charged', 'Charged'])
      const next = await timer('account:a1:monthly')
      // The next charge is 30 days after the late one, not after the missed moment.
      expect(Number(next?.due_at)).toBeGreaterThan(Date.now() + 95 * day + 29 * day)
    })

    it('counts a refused command as fired, and retries a failed one later with backoff', async () => {
      await send('plan', {
        timers: [
          { key: 'x1', command: 'drills/refuse', input: {}, inMs: 1000 },
          { key: 'x2', command: 'drills/tick', input: { key: 'x2', failures: 2 }, inMs: 1000 },
          { key: 'x3', command: 'drills/no-such-command', input: {}, inMs: 1000 },
        ],
      })
      t.shiftClock(2000)
      await t.timers.runDue()
      expect(await timer('x1')).toBeUndefined()
      expect(await timer('x2')).toMatchObject({ attempts: 1 })
      expect((await timer('x2'))?.last_error).toContain('UNAVAILABLE')
      expect((await timer('x3'))?.last_error).toContain('COMMAND_NOT_FOUND')
      await t.timers.runDue() // too soon: the first retry waits a second
      expect(tickCount('x2')).toBe(1)
      t.shiftClock(3500)
      await t.timers.runDue()
      expect(tickCount('x2')).toBe(2)
      expect(await timer('x2')).toMatchObject({ attempts: 2 })
      t.shiftClock(6000)
      await t.timers.runDue()
      expect(tickCount('x2')).toBe(3)
      expect(await timer('x2')).toBeUndefined()
    })
  })

  it('fires once in effect when the process dies between firing and deleting', async () => {
    await send('plan', { timers: [{ key: 'k1', command: 'drills/tick', input: { key: 'k1' }, inMs: day }] })
    // Schedulers with a clock of their own: this Tandem's scheduler sees nothing due.
    const at = (ms: number) => () => new Date(Date.now() + ms)
    const dying: Sql = {
      ...t.sql,
      transaction: () => Promise.reject(new Error('the process died before deleting')),
    }
    const first = createScheduler({ sql: dying, commands: t.commands, clock: at(2 * day), leaseMs: minute })
    await expect(first.runDue()).rejects.toThrow('died')
    expect(tickCount('k1')).toBe(1)
    const other = createScheduler({ sql: t.sql, commands: t.commands, clock: at(2 * day), leaseMs: minute })
    // Within the lease: the dead process's claim holds.
    expect(await other.runDue()).toEqual({ fired: 0, replayed: 0, refused: 0, retried: 0 })
    const later = createScheduler({ sql: t.sql, commands: t.commands, clock: at(2 * day + 2 * minute) })
    expect(await later.runDue()).toEqual({ fired: 0, replayed: 1, refused: 0, retried: 0 })
    expect(tickCount('k1')).toBe(1)
    expect(await timer('k1')).toBeUndefined()
  })

  it('counts pending and overdue timers in the stats and the metrics', async () => {
    await send('plan', {
      timers: [
        { key: 'n1', command: 'drills/tick', input: { key: 'n1' }, inMs: 60 * minute },
        { key: 'n2', command: 'drills/tick', input: { key: 'n2' }, inMs: 120 * minute },
      ],
    })
    const later = createScheduler({
      sql: t.sql,
      commands: t.commands,
      clock: () => new Date(Date.now() + 90 * minute),
    })
    expect(await later.counts()).toEqual({ pending: 2, overdue: 1 })
    const app = await buildServer(t)
    try {
      const stats = await app.inject({ method: 'GET', url: '/api/cqrs/stats' })
      expect(stats.json()).toMatchObject({ timers: { pending: 2, overdue: 0 } })
    } finally {
      await app.close()
    }
    const metrics = await t.metrics.registry.metrics()
    expect(metrics).toContain('tandem_timers{state="pending"} 2')
    expect(metrics).toContain('tandem_timers{state="overdue"} 0')
  })
})

describe.runIf(modes.includes('server'))('timers over several processes (server)', () => {
  it('fires each of 200 timers exactly once from two processes', async () => {
    const [a, b] = (await startTestProcesses('server', [{}, {}], { domains: [drills], timers: 'loop' })) as [
      TestTandem,
      TestTandem,
    ]
    try {
      const { send } = helpers(() => a)
      const keys = Array.from({ length: 200 }, (_, i) => `many-${i}`)
      for (let i = 0; i < keys.length; i += 50) {
        const timers = keys
          .slice(i, i + 50)
          .map((key) => ({ key, command: 'drills/tick', input: { key }, inMs: minute }))
        expect((await send('plan', { timers })).status).toBe('succeeded')
      }
      a.shiftClock(2 * minute)
      b.shiftClock(2 * minute)
      await Promise.all([a.timers.runDue(), b.timers.runDue()])
      await Promise.all([a.timers.runDue(), b.timers.runDue()])
      expect(keys.filter((key) => tickCount(key) !== 1)).toEqual([])
      const fired = async (t: TestTandem) =>
        (await t.metrics.registry.getSingleMetric('tandem_timers_fired_total')?.get())?.values ?? []
      const outcomes = [...(await fired(a)), ...(await fired(b))]
      const total = (outcome: string) =>
        outcomes.filter((v) => v.labels.outcome === outcome).reduce((sum, v) => sum + v.value, 0)
      expect([total('fired'), total('replayed')]).toEqual([200, 0])
      expect(await a.timers.counts()).toEqual({ pending: 0, overdue: 0 })
    } finally {
      await a.dispose()
      await b.dispose()
    }
  })

  it('fires after a restart what was scheduled before it', async () => {
    const [a, b] = (await startTestProcesses('server', [{}, {}], { domains: [drills] })) as [
      TestTandem,
      TestTandem,
    ]
    try {
      await helpers(() => a).send('plan', {
        timers: [
          { key: 'restart-1', command: 'drills/tick', input: { key: 'restart-1' }, inMs: 10 * minute },
        ],
      })
      await a.dispose()
      b.shiftClock(11 * minute)
      await b.timers.runDue()
      expect(tickCount('restart-1')).toBe(1)
    } finally {
      await a.dispose()
      await b.dispose()
    }
  })
})
