import Type, { type Static } from 'typebox'
import { describe, expect, it } from 'vitest'
import { ConflictError, ValidationError } from '../core/errors.js'
import { defineCommand, defineEvent, signedIn, type CommandMeta } from '../core/messages.js'
import { Id } from '../core/schemas.js'
import { defineProcessor } from '../processors/processor.js'
import { deciderSpec, processorSpec } from './kit.js'

/** A wallet, event-sourced: its balance never goes below zero. */
const Deposited = defineEvent('Deposited', Type.Object({ amount: Type.Integer(), at: Type.String() }))
const Withdrawn = defineEvent('Withdrawn', Type.Object({ amount: Type.Integer() }))
type WalletEvent = ReturnType<typeof Deposited.create> | ReturnType<typeof Withdrawn.create>
const Move = Type.Object({ walletId: Id(), amount: Type.Integer({ minimum: 1 }) })
type Move = Static<typeof Move>

const wallet = {
  initial: { balance: 0 },
  evolve: (state: { balance: number }, event: WalletEvent) => ({
    balance: state.balance + (event.type === 'Deposited' ? event.data.amount : -event.data.amount),
  }),
}
const withdraw = {
  ...wallet,
  decide(input: Move, state: { balance: number }): WalletEvent[] {
    if (state.balance < input.amount) throw new ConflictError('INSUFFICIENT_FUNDS', 'Insufficient funds')
    return [Withdrawn.create({ amount: input.amount })]
  },
}
const deposit = {
  ...wallet,
  decide: (input: Move, _state: { balance: number }, meta: CommandMeta): WalletEvent[] => [
    Deposited.create({ amount: input.amount, at: meta.now.toISOString() }),
  ],
}
const withdrawCommand = defineCommand({
  domain: 'wallets',
  name: 'withdraw',
  summary: 'Withdraw',
  input: Move,
  output: Type.Object({}),
  access: signedIn(),
  refusals: { 409: ['INSUFFICIENT_FUNDS'] },
  handle: () => Promise.resolve({}),
})

const walletId = '0190a0d0-0000-7000-8000-00000000000a'
const deposited = (amount: number) => Deposited.create({ amount, at: '2030-01-01T00:00:00.000Z' })

/** A state-stored rule, as a bare decide function: a name may be claimed once, by a signed-in caller. */
type Claim = { status: 'free' } | { status: 'taken'; by: string }
const Claimed = defineEvent(
  'Claimed',
  Type.Object({ name: Type.String(), by: Type.String(), id: Type.String() }),
)
function decideClaim(input: { name: string }, state: Claim, meta: CommandMeta) {
  if (!meta.caller) throw new ValidationError([{ path: '', message: 'needs a caller' }])
  if (state.status === 'taken') throw new ConflictError('NAME_TAKEN', 'Name taken', `by ${state.by}`)
  return [Claimed.create({ name: input.name, by: meta.caller.id, id: meta.newId })]
}

describe('deciderSpec on an event-sourced decider', () => {
  const given = deciderSpec(withdraw)

  it('folds the given events into the state it decides on', () => {
    given([deposited(100), Withdrawn.create({ amount: 30 })])
      .when({ walletId, amount: 70 })
      .then(Withdrawn.create({ amount: 70 }))
    given([]).when({ walletId, amount: 1 }).thenRefused('INSUFFICIENT_FUNDS')
  })

  it('fails a then whose events differ, or that meets a refusal', () => {
    expect(() =>
      given([deposited(100)])
        .when({ walletId, amount: 70 })
        .then([]),
    ).toThrow()
    expect(() =>
      given([deposited(10)])
        .when({ walletId, amount: 70 })
        .then(Withdrawn.create({ amount: 70 })),
    ).toThrow(/refused with INSUFFICIENT_FUNDS/)
  })

  it('fails a thenRefused that meets events, another code, or other details', () => {
    expect(() =>
      given([deposited(100)])
        .when({ walletId, amount: 70 })
        .thenRefused('INSUFFICIENT_FUNDS'),
    ).toThrow(/recorded/)
    expect(() => given([]).when({ walletId, amount: 70 }).thenRefused('EVENT_FULL')).toThrow()
    given([]).when({ walletId, amount: 70 }).thenRefused('INSUFFICIENT_FUNDS', { status: 409 })
    expect(() =>
      given([]).when({ walletId, amount: 70 }).thenRefused('INSUFFICIENT_FUNDS', { status: 400 }),
    ).toThrow()
  })

  it('takes the clock from the spec, then from the command', () => {
    const at = deciderSpec(deposit, { now: '2031-05-01T00:00:00.000Z' })
    at([])
      .when({ walletId, amount: 5 })
      .then(Deposited.create({ amount: 5, at: '2031-05-01T00:00:00.000Z' }))
    at([])
      .when({ walletId, amount: 5 }, { now: new Date('2032-01-01T00:00:00.000Z') })
      .then(Deposited.create({ amount: 5, at: '2032-01-01T00:00:00.000Z' }))
  })

  it('puts the input in canonical form when it knows the command, and refuses an input that does not fit', () => {
    const upper = walletId.toUpperCase()
    const checked = deciderSpec(
      {
        ...withdraw,
        decide: (input: Move) => [Deposited.create({ amount: input.amount, at: input.walletId })],
      },
      { command: withdrawCommand },
    )
    checked([])
      .when({ walletId: upper, amount: 1 })
      .then(Deposited.create({ amount: 1, at: walletId }))
    expect(() => checked([]).when({ walletId, amount: 0 }).then([])).toThrow(
      /does not fit wallets\/withdraw: \/amount/,
    )
  })

  it('fails a refusal its command does not declare under its status (the OpenAPI document names each)', () => {
    const undeclared = { ...withdrawCommand, refusals: { 404: ['INSUFFICIENT_FUNDS'] } }
    const checked = deciderSpec(withdraw, { command: undeclared })
    expect(() => checked([]).when({ walletId, amount: 1 }).thenRefused('INSUFFICIENT_FUNDS')).toThrow(
      /wallets\/withdraw refuses INSUFFICIENT_FUNDS with 409: declare it/,
    )
    deciderSpec(withdraw, { command: withdrawCommand })([])
      .when({ walletId, amount: 1 })
      .thenRefused('INSUFFICIENT_FUNDS')
  })

  it('says so when a spec is awaited like a promise', async () => {
    await expect((async () => given([]).when({ walletId, amount: 1 }) as unknown)()).rejects.toThrow(
      /not a promise/,
    )
  })
})

describe('deciderSpec on an event-sourced decider with rows', () => {
  /** A wallet that also draws on a shared pool, a row `load` would read. */
  const draw = {
    ...wallet,
    load: (): Promise<{ pool: number }> => Promise.resolve({ pool: 0 }),
    decide(input: Move, state: { balance: number }, _meta: CommandMeta, rows: { pool: number }) {
      if (state.balance + rows.pool < input.amount)
        throw new ConflictError('INSUFFICIENT_FUNDS', 'Insufficient funds')
      return [Withdrawn.create({ amount: input.amount })]
    },
  }
  const given = deciderSpec(draw, { command: withdrawCommand })

  it('folds the given events and decides on the given rows as what load would read', () => {
    given([deposited(10)], { pool: 60 })
      .when({ walletId, amount: 70 })
      .then(Withdrawn.create({ amount: 70 }))
    given([deposited(10)], { pool: 59 })
      .when({ walletId, amount: 70 })
      .thenRefused('INSUFFICIENT_FUNDS')
    expect(() =>
      given([deposited(10)], { pool: 0 })
        .when({ walletId, amount: 70 })
        .then(Withdrawn.create({ amount: 70 })),
    ).toThrow(/refused with INSUFFICIENT_FUNDS/)
  })
})

describe('deciderSpec on a state-stored decide function', () => {
  const given = deciderSpec(decideClaim, { caller: { id: 'ann', roles: [] }, newId: 'id-1' })

  it('decides on the given state, with the spec’s caller and id, or the command’s', () => {
    given({ status: 'free' })
      .when({ name: 'tandem' })
      .then([Claimed.create({ name: 'tandem', by: 'ann', id: 'id-1' })])
    given({ status: 'free' })
      .when({ name: 'tandem' }, { caller: { id: 'bob', roles: [] }, newId: 'id-2' })
      .then([Claimed.create({ name: 'tandem', by: 'bob', id: 'id-2' })])
  })

  it('matches a refusal’s code, status, detail and field errors', () => {
    given({ status: 'taken', by: 'bob' })
      .when({ name: 'tandem' })
      .thenRefused('NAME_TAKEN', { detail: 'by bob' })
    given({ status: 'free' })
      .when({ name: 'tandem' }, { caller: undefined })
      .thenRefused('VALIDATION_FAILED', { status: 400, errors: [{ path: '' }] })
    expect(() =>
      given({ status: 'free' })
        .when({ name: 'tandem' }, { caller: undefined })
        .thenRefused('VALIDATION_FAILED', { errors: [{ path: '/name' }] }),
    ).toThrow()
  })

  it('lets a bug (an error that is no refusal) through', () => {
    const buggy = deciderSpec((_input: object, _state: null): never[] => {
      throw new TypeError('boom')
    })
    expect(() => buggy(null).when({}).thenRefused('ANY')).toThrow(TypeError)
  })
})

describe('processorSpec', () => {
  const Tick = defineEvent('Tick', Type.Object({ n: Type.Integer() }))
  const record = defineCommand({
    domain: 'ticks',
    name: 'record',
    summary: 'Record a tick',
    input: Type.Object({ n: Type.Integer({ minimum: 0 }) }),
    output: Type.Object({}),
    access: signedIn('system'),
    handle: () => Promise.resolve({}),
  })
  const ticker = (send: (n: number, attempt: number) => unknown, caller?: { id: string; roles: string[] }) =>
    defineProcessor({
      domain: 'ticks',
      name: 'ticker',
      version: 1,
      events: [Tick],
      startFrom: 'beginning',
      retry: { attempts: 2, backoffMs: 60_000 },
      ...(caller ? { caller } : {}),
      async handle(event, ctx) {
        const sent = await ctx.send(record, send(event.data.n, ctx.attempt))
        if (sent.status === 'failed') throw sent.error
      },
    })

  it('parks, without waiting out the backoff, what the real bus would refuse', async () => {
    const letter = async (spec: ReturnType<typeof processorSpec>) =>
      (await spec(Tick.create({ n: 1 }))).deadLetters[0]?.error
    expect(await letter(processorSpec(ticker((n) => ({ n: -n }))))).toMatch(/VALIDATION_FAILED/)
    expect(await letter(processorSpec(ticker((n) => ({ n }), { id: 'nobody', roles: [] })))).toMatch(
      /FORBIDDEN/,
    )
    // A send refused for its input never ran: a retry may send a fitting one under its key.
    expect(
      await letter(processorSpec(ticker((n, attempt) => ({ n: attempt === 1 ? -1 : n })))),
    ).toBeUndefined()
  })

  it('refuses a retry that sends another input under the same key, as the bus does', async () => {
    const clocked = defineProcessor({
      domain: 'ticks',
      name: 'clocked',
      version: 1,
      events: [Tick],
      startFrom: 'beginning',
      retry: { attempts: 2, backoffMs: 60_000 },
      caller: { id: 'ticker', roles: ['system'] },
      async handle(_event, ctx) {
        const sent = await ctx.send(record, { n: ctx.attempt })
        if (sent.status === 'failed') throw sent.error
        throw new Error('crashed after sending')
      },
    })
    const run = await processorSpec(clocked)(Tick.create({ n: 1 }))
    expect(run.sent.map((s) => s.input)).toEqual([{ n: 1 }])
    expect(run.deadLetters[0]?.error).toMatch(/IDEMPOTENCY_KEY_REUSED/)
  })

  it("gives the handler's reads what `read` answers, and parks what reads with no database given", async () => {
    const reading = defineProcessor({
      domain: 'ticks',
      name: 'reading',
      version: 1,
      events: [Tick],
      startFrom: 'beginning',
      retry: { attempts: 1, backoffMs: 0 },
      caller: { id: 'ticker', roles: ['system'] },
      async handle(event, ctx) {
        const rows = await ctx.read.query<{ n: number }>('SELECT n FROM ticks WHERE n = $1', [event.data.n])
        if (rows.length > 0) await ctx.send(record, { n: event.data.n })
      },
    })
    const read = {
      query: <R>(_text: string, params?: readonly unknown[]) =>
        Promise.resolve((params?.[0] === 2 ? [{ n: 2 }] : []) as R[]),
    }
    const run = await processorSpec(reading, { read })(Tick.create({ n: 1 }), Tick.create({ n: 2 }))
    expect(run.sent.map((s) => s.input)).toEqual([{ n: 2 }])
    const blind = await processorSpec(reading)(Tick.create({ n: 1 }))
    expect(blind.deadLetters[0]?.error).toMatch(/no database/)
  })

  it('hands the given events to prefetch as one batch first, and handles them without it when it fails', async () => {
    const batches: number[][] = []
    const kept = new Set<number>()
    const prefetching = defineProcessor({
      domain: 'ticks',
      name: 'prefetching',
      version: 1,
      events: [Tick],
      startFrom: 'beginning',
      caller: { id: 'ticker', roles: ['system'] },
      async prefetch(events, read) {
        await read.query('SELECT 1')
        batches.push(events.map((e) => e.data.n))
        for (const e of events) kept.add(e.data.n)
      },
      async handle(event, ctx) {
        if (kept.delete(event.data.n)) await ctx.send(record, { n: event.data.n })
      },
    })
    const read = { query: <R>() => Promise.resolve([] as R[]) }
    const run = await processorSpec(prefetching, { read })(Tick.create({ n: 1 }), Tick.create({ n: 2 }))
    expect(batches).toEqual([[1, 2]])
    expect(run.sent.map((s) => s.input)).toEqual([{ n: 1 }, { n: 2 }])
    // No database: prefetch fails, is not a failure of the events, and the handler goes on without it.
    const blind = await processorSpec(prefetching)(Tick.create({ n: 3 }))
    expect(blind.handled).toHaveLength(1)
    expect(blind.sent).toEqual([])
  })
})
