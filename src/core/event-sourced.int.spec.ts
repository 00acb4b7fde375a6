import Type, { type Static } from 'typebox'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { appendStatement, lockStream, readStream } from '../storage/event-log.js'
import { createUnitOfWork } from '../storage/unit-of-work.js'
import { countingReads, startTestTandem, type TestTandem } from '../testing/harness.js'
import { modes } from '../testing/services.js'
import { createCommandBus } from './command-bus.js'
import { eventSourced, fold } from './decider.js'
import { ConflictError } from './errors.js'
import { defineCommand, defineEvent, defineQuery, signedIn, type Caller } from './messages.js'
import { createRegistry } from './registry.js'
import { createStreamMemory } from './stream-memory.js'

/** A toy event-sourced aggregate: a wallet whose balance never goes below zero. */
const Deposited = defineEvent('Deposited', Type.Object({ amount: Type.Integer() }))
const Withdrawn = defineEvent('Withdrawn', Type.Object({ amount: Type.Integer() }))
const Move = Type.Object({ walletId: Type.String(), amount: Type.Integer({ minimum: 1 }) })
type WalletEvent = ReturnType<typeof Deposited.create> | ReturnType<typeof Withdrawn.create>

const streamOf = (walletId: string) => `wallet-${walletId}`
const wallet = {
  streamId: (input: Static<typeof Move>) => streamOf(input.walletId),
  initial: { balance: 0 },
  evolve: (state: { balance: number }, event: WalletEvent) => ({
    balance: state.balance + (event.type === 'Deposited' ? event.data.amount : -event.data.amount),
  }),
}
const deposit = defineCommand({
  domain: 'wallets',
  name: 'deposit',
  summary: 'Deposit',
  input: Move,
  output: Type.Object({ balance: Type.Integer() }),
  access: signedIn(),
  handle: eventSourced({
    ...wallet,
    decide: (input) => [Deposited.create({ amount: input.amount })],
    result: (_events, input, state) => ({ balance: state.balance + input.amount }),
  }),
})
const withdraw = defineCommand({
  domain: 'wallets',
  name: 'withdraw',
  summary: 'Withdraw',
  input: Move,
  output: Type.Object({ balance: Type.Integer() }),
  access: signedIn(),
  refusals: { 409: ['INSUFFICIENT_FUNDS'] },
  handle: eventSourced({
    ...wallet,
    decide(input, state) {
      if (state.balance < input.amount) throw new ConflictError('INSUFFICIENT_FUNDS', 'Insufficient funds')
      return [Withdrawn.create({ amount: input.amount })]
    },
    result: (_events, input, state) => ({ balance: state.balance - input.amount }),
  }),
})

/** A command of another domain that appends a wallet's event: the unit of work refuses it. */
const stray = defineCommand({
  domain: 'strays',
  name: 'deposit-elsewhere',
  summary: "Appends another domain's event",
  input: Move,
  output: Type.Object({ balance: Type.Integer() }),
  access: signedIn(),
  handle: eventSourced({
    ...wallet,
    decide: (input) => [Deposited.create({ amount: input.amount })],
    result: () => ({ balance: 0 }),
  }),
})

/** An aggregate whose events carry the moment they were decided at, decided at its turn. */
const Stamped = defineEvent('Stamped', Type.Object({ at: Type.String() }))
const stamp = defineCommand({
  domain: 'wallets',
  name: 'stamp',
  summary: 'Stamp',
  input: Type.Object({ walletId: Type.String() }),
  output: Type.Object({ at: Type.String() }),
  access: signedIn(),
  handle: eventSourced({
    streamId: (input: { walletId: string }) => `stamps-${input.walletId}`,
    initial: { at: undefined as string | undefined },
    evolve: (_state: { at: string | undefined }, event: ReturnType<typeof Stamped.create>) => ({
      at: event.data.at,
    }),
    changedAt: (state) => state.at,
    decide: (_input, _state, meta) => [Stamped.create({ at: meta.now.toISOString() })],
    result: (_events, _input, _state, meta) => ({ at: meta.now.toISOString() }),
  }),
})

/** The balance now or at a past moment, folded from the log (no read model). */
const balance = defineQuery({
  domain: 'wallets',
  name: 'balance',
  summary: "A wallet's balance, now or at a past moment",
  input: Type.Object({ walletId: Type.String(), asOf: Type.Optional(Type.String({ format: 'date-time' })) }),
  output: Type.Object({ balance: Type.Integer(), version: Type.Integer() }),
  access: signedIn(),
  readModels: [],
  async handle(q, { history }) {
    const events = await history.stream(streamOf(q.walletId), q.asOf ? { asOf: new Date(q.asOf) } : {})
    return { balance: fold(wallet, events).balance, version: events.at(-1)?.version ?? 0 }
  },
})

const owner: Caller = { id: 'owner', roles: [] }

/**
 * A moment strictly between what was recorded before and what is recorded after: a JavaScript Date
 * has milliseconds and PostgreSQL's clock microseconds, so a bare `new Date()` can fall before an
 * event just recorded.
 */
async function between(): Promise<Date> {
  const pause = () => new Promise((resolve) => setTimeout(resolve, 5))
  await pause()
  const moment = new Date()
  await pause()
  return moment
}

describe.each(modes)('event-sourced aggregates (%s)', (mode) => {
  let t: TestTandem
  beforeAll(async () => {
    t = await startTestTandem(mode)
  })
  afterAll(async () => t.dispose())

  /** A command bus with a memory of its own (a process), counting the stream reads it makes. */
  function process(clock?: () => Date) {
    const { sql, counted } = countingReads(t.sql, 'FROM tandem.event_log WHERE stream_id')
    const bus = createCommandBus({
      registry: createRegistry({ commands: [deposit, withdraw, stamp], queries: [] }),
      unitOfWork: createUnitOfWork({ sql, memory: createStreamMemory() }),
      middleware: [],
      ...(clock ? { clock } : {}),
    })
    const send = async (command: 'deposit' | 'withdraw', walletId: string, amount: number) => {
      const done = await bus.execute(`wallets/${command}`, { walletId, amount }, { caller: owner })
      return done.status === 'succeeded' ? (done.result as { balance: number }).balance : done.error.code
    }
    const stampAt = async (walletId: string) => {
      const done = await bus.execute('wallets/stamp', { walletId }, { caller: owner })
      if (done.status === 'failed') throw done.error
      return (done.result as { at: string }).at
    }
    return { send, stampAt, counted }
  }

  const balanceOf = async (walletId: string, asOf?: Date) =>
    fold(wallet, await readStream(t.sql, `wallet-${walletId}`, { asOf })).balance

  it('folds the events into the state, refuses on it, and reads a past moment', async () => {
    const a = process()
    expect(await a.send('deposit', 'w1', 100)).toBe(100)
    expect(await a.send('withdraw', 'w1', 30)).toBe(70)
    const before = await between()
    expect(await a.send('withdraw', 'w1', 80)).toBe('INSUFFICIENT_FUNDS')
    expect(await a.send('deposit', 'w1', 5)).toBe(75)
    expect(await balanceOf('w1')).toBe(75)
    expect(await balanceOf('w1', before)).toBe(70)
    expect(await balanceOf('w1', new Date(0))).toBe(0)
    const versions = (await readStream(t.sql, 'wallet-w1')).map((e) => e.version)
    expect(versions).toEqual([1, 2, 3])
  })

  it('decides on the state it kept, reading nothing, and reads after a refusal', async () => {
    const a = process()
    await a.send('deposit', 'w2', 10)
    expect(a.counted.reads).toBe(1)
    expect(await a.send('deposit', 'w2', 10)).toBe(20)
    expect(a.counted.reads).toBe(1)
    expect(await a.send('withdraw', 'w2', 50)).toBe('INSUFFICIENT_FUNDS')
    expect(a.counted.reads).toBe(2)
  })

  it('never goes below zero when two processes withdraw at once', async () => {
    const [a, b] = [process(), process()]
    await a.send('deposit', 'w3', 500)
    await b.send('deposit', 'w3', 0 + 1) // b keeps the wallet too
    const outcomes = await Promise.all(
      Array.from({ length: 120 }, (_, i) => (i % 2 ? a : b).send('withdraw', 'w3', 10)),
    )
    expect(outcomes.filter((o) => typeof o === 'number')).toHaveLength(50)
    expect(new Set(outcomes.filter((o) => typeof o !== 'number'))).toEqual(new Set(['INSUFFICIENT_FUNDS']))
    expect(await balanceOf('w3')).toBe(1)
    const versions = (await readStream(t.sql, 'wallet-w3')).map((e) => e.version)
    expect(versions).toEqual(Array.from({ length: 52 }, (_, i) => i + 1))
  })

  it("decides a command at its stream's turn: after the change it decides on (changedAt)", async () => {
    const later = process(() => new Date(Date.now() + 10_000))
    const behind = process(() => new Date(Date.now() + 5_000))
    const first = await later.stampAt('s1')
    const plus = (ms: number) => new Date(Date.parse(first) + ms).toISOString()
    // The process behind reads the stream (it kept nothing of it), then recalls what it appended:
    // each is stamped a millisecond after the change before it.
    expect(await behind.stampAt('s1')).toBe(plus(1))
    expect(await behind.stampAt('s1')).toBe(plus(2))
    const at = (await readStream(t.sql, 'stamps-s1')).map((e) => (e.data as { at: string }).at)
    expect(at).toEqual([first, plus(1), plus(2)])
    // A stream that changed before the clock is decided at the clock.
    const ahead = process(() => new Date(Date.now() + 20_000))
    expect(Date.parse(await ahead.stampAt('s1'))).toBeGreaterThan(Date.parse(first) + 5_000)
  })

  // PGlite runs one transaction at a time: no other process to hold the lock meanwhile.
  it.runIf(mode === 'server')('lets a command that read the stream win over one that did not', async () => {
    const a = process()
    await a.send('deposit', 'w4', 10) // a keeps the balance: 10 at version 1
    let release!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    let locked!: () => void
    const isLocked = new Promise<void>((resolve) => (locked = resolve))
    // Another process reads the wallet under its lock and spends the 10, slowly.
    const other = t.sql.transaction(async (tx) => {
      const lock = lockStream('wallet-w4')
      await tx.query(lock.text, lock.params)
      locked()
      await released
      const spend = Withdrawn.create({ amount: 10 })
      const metadata = { commandId: 'other', correlationId: 'other', command: 'wallets/withdraw' }
      await tx.commit([appendStatement({ id: 'wallet-w4', expectedVersion: 1 }, [spend], metadata)])
    })
    await isLocked
    // a decides on what it kept (10 to spend) and waits for the lock at its commit.
    const attempt = a.send('withdraw', 'w4', 10)
    await new Promise((resolve) => setTimeout(resolve, 50))
    release()
    await other
    expect(await attempt).toBe('INSUFFICIENT_FUNDS')
    expect(await balanceOf('w4')).toBe(0)
  })
})

describe.each(modes)('queries over the event log (%s)', (mode) => {
  let t: TestTandem
  beforeAll(async () => {
    const wallets = {
      name: 'wallets',
      events: [Deposited, Withdrawn],
      commands: [deposit, withdraw],
      queries: [balance],
      projections: [],
      migrations: [],
    }
    const strays = {
      name: 'strays',
      events: [],
      commands: [stray],
      queries: [],
      projections: [],
      migrations: [],
    }
    t = await startTestTandem(mode, { domains: [wallets, strays] })
  })
  afterAll(async () => t.dispose())

  it("answers an aggregate's state now and at a past moment", async () => {
    const send = async (command: typeof deposit, amount: number) => {
      const done = await t.commands.execute(command, { walletId: 'q1', amount }, { caller: owner })
      if (done.status === 'failed') throw done.error
    }
    await send(deposit, 40)
    const moment = await between()
    await send(withdraw, 15)
    const ask = async (asOf?: Date) => {
      const input = asOf ? { walletId: 'q1', asOf: asOf.toISOString() } : { walletId: 'q1' }
      const asked = await t.queries.ask(balance, input, { caller: owner })
      if (asked.status === 'failed') throw asked.error
      return asked.data
    }
    expect(await ask()).toEqual({ balance: 25, version: 2 })
    expect(await ask(moment)).toEqual({ balance: 40, version: 1 })
    expect(await ask(new Date(0))).toEqual({ balance: 0, version: 0 })
  })
  it('refuses a command that appends an event its domain does not declare, and writes nothing', async () => {
    await expect(t.commands.execute(stray, { walletId: 'q2', amount: 5 }, { caller: owner })).rejects.toThrow(
      /strays appended Deposited, which wallets declares/,
    )
    const [row] = await t.sql.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM tandem.event_log WHERE stream_id = 'wallet-q2'",
    )
    expect(row?.n).toBe(0)
  })
})
