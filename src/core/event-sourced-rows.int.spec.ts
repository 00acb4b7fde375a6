import Type, { type Static } from 'typebox'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readStream } from '../storage/event-log.js'
import { startTestTandem, type TestTandem } from '../testing/harness.js'
import { modes } from '../testing/services.js'
import { eventSourced, fold } from './decider.js'
import { ConflictError } from './errors.js'
import { defineCommand, defineEvent, signedIn, type Caller } from './messages.js'

/**
 * An event-sourced purse that draws on a shared pool, a row outside its stream: `load` reads and
 * locks the pool, `decide` refuses on it, `persist` debits it in the commit that appends the event.
 */
const Drawn = defineEvent('Drawn', Type.Object({ amount: Type.Integer() }))
type PurseEvent = ReturnType<typeof Drawn.create>
const Draw = Type.Object({
  purseId: Type.String(),
  amount: Type.Integer({ minimum: 1 }),
  check: Type.Boolean(),
})
type Draw = Static<typeof Draw>
type Pool = { balance: number } | undefined

const purse = {
  streamId: (input: Draw) => `purse-${input.purseId}`,
  initial: { drawn: 0 },
  evolve: (state: { drawn: number }, event: PurseEvent) => ({ drawn: state.drawn + event.data.amount }),
}
const draw = defineCommand({
  domain: 'pools',
  name: 'draw',
  summary: 'Draw from the pool into a purse',
  input: Draw,
  output: Type.Object({ drawn: Type.Integer(), pool: Type.Integer() }),
  access: signedIn(),
  refusals: { 409: ['POOL_EMPTY', 'NO_POOL'] },
  handle: eventSourced({
    ...purse,
    async load(tx, _input, state): Promise<Pool> {
      const [row] = await tx.query<{ balance: number }>(
        'SELECT balance::int AS balance FROM pools.pool WHERE pool_id = 1 FOR UPDATE',
      )
      expect(state.drawn).toBeGreaterThanOrEqual(0) // the stream was folded before the rows load
      return row
    },
    decide(input, _state, _meta, pool) {
      if (!pool) throw new ConflictError('NO_POOL', 'No pool')
      // `check: false` skips the rule, so that only the CHECK constraint is left to refuse.
      if (input.check && pool.balance < input.amount) throw new ConflictError('POOL_EMPTY', 'Pool empty')
      return [Drawn.create({ amount: input.amount })]
    },
    persist: (events) =>
      events.map((e) => ({
        text: 'UPDATE pools.pool SET balance = balance - $1 WHERE pool_id = 1',
        params: [e.data.amount],
      })),
    result: (events, _input, state, _meta, pool) => ({
      drawn: state.drawn + events.reduce((sum, e) => sum + e.data.amount, 0),
      pool: (pool?.balance ?? 0) - events.reduce((sum, e) => sum + e.data.amount, 0),
    }),
  }),
})

const pools = {
  name: 'pools',
  events: [Drawn],
  commands: [draw],
  queries: [],
  projections: [],
  migrations: [
    {
      id: 'pools/001',
      sql: `CREATE SCHEMA pools;
        CREATE TABLE pools.pool (pool_id int PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0))`,
    },
  ],
}
const owner: Caller = { id: 'owner', roles: [] }

describe.each(modes)('event-sourced aggregates with rows (%s)', (mode) => {
  let t: TestTandem
  beforeAll(async () => {
    t = await startTestTandem(mode, { domains: [pools] })
  })
  afterAll(async () => t.dispose())

  const send = async (purseId: string, amount: number, check = true) => {
    const done = await t.commands.execute(draw, { purseId, amount, check }, { caller: owner })
    return done.status === 'succeeded' ? done.result : done.error.code
  }
  const pool = async () =>
    (await t.sql.query<{ balance: number }>('SELECT balance::int AS balance FROM pools.pool'))[0]?.balance
  const drawn = async (purseId: string) => fold(purse, await readStream(t.sql, `purse-${purseId}`)).drawn
  const setPool = (balance: number) =>
    t.sql.query(
      'INSERT INTO pools.pool VALUES (1, $1) ON CONFLICT (pool_id) DO UPDATE SET balance = excluded.balance',
      [balance],
    )

  it('loads the rows after folding the stream, decides on both, and commits the rows with the events', async () => {
    expect(await send('a', 5)).toBe('NO_POOL')
    await setPool(100)
    expect(await send('a', 30)).toEqual({ drawn: 30, pool: 70 })
    expect(await send('a', 20)).toEqual({ drawn: 50, pool: 50 })
    expect(await send('a', 51)).toBe('POOL_EMPTY')
    expect(await pool()).toBe(50)
    expect(await drawn('a')).toBe(50)
  })

  it('writes neither the events nor the rows when a statement of the commit fails', async () => {
    await setPool(10)
    // The rule is skipped: the pool's CHECK refuses the debit, and the event goes with it.
    await expect(send('b', 11, false)).rejects.toThrow(/check constraint/)
    expect(await pool()).toBe(10)
    expect(await readStream(t.sql, 'purse-b')).toEqual([])
  })

  it('never overdraws the shared row when many purses draw at once', async () => {
    await setPool(500)
    const outcomes = await Promise.all(
      Array.from({ length: 120 }, (_, i) =>
        send(`c${i % 12}`, 10).then((o) => (typeof o === 'string' ? o : 'ok')),
      ),
    )
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(50)
    expect(new Set(outcomes.filter((o) => o !== 'ok'))).toEqual(new Set(['POOL_EMPTY']))
    expect(await pool()).toBe(0)
    const sums = await Promise.all(Array.from({ length: 12 }, (_, i) => drawn(`c${i}`)))
    expect(sums.reduce((a, b) => a + b, 0)).toBe(500)
  })

  it('takes turns on one stream: parallel draws into one purse each see the last', async () => {
    await setPool(1000)
    const results = await Promise.all(Array.from({ length: 40 }, () => send('d', 7)))
    expect(results.every((r) => typeof r !== 'string')).toBe(true)
    expect(await drawn('d')).toBe(280)
    const versions = (await readStream(t.sql, 'purse-d')).map((e) => e.version)
    expect(versions).toEqual(Array.from({ length: 40 }, (_, i) => i + 1))
    expect(await pool()).toBe(720)
  })
})
