import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Caller, QueryDefinition } from '../../../kernel/index.js'
import { modes, startTestTandem, type TestTandem } from '../../../kernel/testing.js'
import type { CardsEvent } from '../messages.js'
import { cardAfter } from '../rules.js'
import {
  agent,
  cardsTestDomain,
  cardRow,
  cardsWithDuckDb,
  commands as c,
  customer,
  hour,
  inYears,
  issue,
  network,
  payment,
  run,
} from '../testing/cards.js'
import { getAccessLog } from './access-log.js'
import { getCardHistory, getCards } from './history.js'
import { spending } from './index.js'
import { getRecentTransactions } from './recent-queries.js'

/**
 * From commands to answers on a running Tandem: a transaction is listed at once with X-Min-Position
 * (the command's position); the card's history as of moments before and after each change, checked
 * against the write side's own fold; agents' reads of a customer's data on the access log.
 */

const admin: Caller = { id: 'admin-1', roles: ['admin'] }
type Decision = { transactionId: string; decision: string }

describe.each(modes)('cards: commands to queries (%s)', (mode) => {
  let t: TestTandem
  beforeAll(async () => {
    t = await startTestTandem(mode, { domains: [cardsWithDuckDb] })
  })
  afterAll(async () => {
    t.shiftClock(0)
    await t.dispose()
  })

  async function ask<O>(query: QueryDefinition, input: unknown, caller: Caller, minPosition?: string) {
    const answer = await t.queries.ask(query, input, {
      caller,
      ...(minPosition ? { minPosition: BigInt(minPosition) } : {}),
    })
    if (answer.status === 'failed') throw new Error(`${answer.error.status} ${answer.error.code}`)
    return answer.data as O
  }

  it('lists a transaction at once, and its capture, when the query waits for the command’s position', async () => {
    const cardId = await issue(t, { customerId: 'nam' })
    for (let i = 0; i < 5; i++) {
      const done = await t.commands.execute(c.authorizeTransaction, payment(cardId, 1000 + i), {
        caller: network,
      })
      if (done.status === 'failed' || !done.position) throw new Error('not authorized')
      const { transactionId } = done.result as Decision
      const page = await ask<{ items: { transactionId: string; status: string }[] }>(
        getRecentTransactions,
        { cardId },
        customer('nam'),
        done.position,
      )
      expect(page.items[0]).toMatchObject({ transactionId, status: 'authorized' })
      const capture = await t.commands.execute(
        c.updateTransaction,
        { transactionId, action: 'capture' },
        { caller: network },
      )
      if (capture.status === 'failed' || !capture.position) throw new Error('not captured')
      const after = await ask<{ items: { transactionId: string; status: string }[] }>(
        getRecentTransactions,
        {},
        customer('nam'),
        capture.position,
      )
      expect(after.items[0]).toMatchObject({ transactionId, status: 'captured' })
      const month = new Date(Date.now()).toISOString().slice(0, 7)
      const summary = await ask<{ totals: { amount: number; posted: number }[] }>(
        spending.getMonthlySpendingSummary,
        { month },
        customer('nam'),
        capture.position,
      )
      expect(summary.totals[0]?.posted).toBe(
        Array.from({ length: i + 1 }, (_, k) => 1000 + k).reduce((a, b) => a + b),
      )
    }
  })

  it('answers the analytics on DuckDB (engine=duckdb) as on the rollups, at once after each command', async () => {
    const cardId = await issue(t, { customerId: 'duck' })
    const day = new Date().toISOString().slice(0, 10)
    const month = day.slice(0, 7)
    const questions: [QueryDefinition, Record<string, unknown>, Caller][] = [
      [spending.getMonthlySpendingSummary, { month }, customer('duck')],
      [spending.getMerchantSummary, { merchantId: 'shop-1', from: day, to: day }, agent],
      [spending.getSpendingByDate, { from: day, to: day }, customer('duck')],
      [spending.getSpendingByProduct, { from: month, to: month }, customer('duck')],
    ]
    const both = async (position: string) => {
      for (const [query, input, caller] of questions) {
        const duckdb = await ask(query, { ...input, engine: 'duckdb' }, caller, position)
        expect(duckdb).toEqual(await ask(query, input, caller, position))
      }
    }
    for (const amount of [7_000, 8_000]) {
      const paid = await t.commands.execute(c.authorizeTransaction, payment(cardId, amount), {
        caller: network,
      })
      if (paid.status === 'failed' || !paid.position) throw new Error('not authorized')
      await both(paid.position)
      const { transactionId } = paid.result as Decision
      const captured = await t.commands.execute(
        c.updateTransaction,
        { transactionId, action: 'capture', amount: amount - 1_000 },
        { caller: network },
      )
      if (captured.status === 'failed' || !captured.position) throw new Error('not captured')
      await both(captured.position)
      const summary = await ask<{ totals: { posted: number }[] }>(
        spending.getMonthlySpendingSummary,
        { month, engine: 'duckdb' },
        customer('duck'),
      )
      expect(summary.totals[0]?.posted).toBe(amount === 7_000 ? 6_000 : 13_000)
    }
  })

  it('drops each engine’s cached answers when that engine applies the events, not the other’s', async () => {
    const cardId = await issue(t, { customerId: 'solo' })
    const dropped: (readonly string[])[] = []
    const off = t.cache.onInvalidate((tags) => {
      if (tags !== 'all') dropped.push(tags.filter((tag) => tag.includes('spending')))
    })
    try {
      const paid = await t.commands.execute(c.authorizeTransaction, payment(cardId, 5_000), {
        caller: network,
      })
      if (paid.status === 'failed' || !paid.position) throw new Error('not authorized')
      const month = new Date().toISOString().slice(0, 7)
      const tagsOf = async (engine: 'rollups' | 'duckdb') => {
        const answer = await t.queries.ask(
          spending.getMonthlySpendingSummary,
          { month, engine },
          { caller: customer('solo'), minPosition: BigInt(paid.position ?? '0') },
        )
        if (answer.status === 'failed') throw new Error(answer.error.code)
        // The domain's tags, its events': the kernel's tag of the query's read model is on both engines' answers.
        return answer.tags.filter((tag) => tag.startsWith('cards/'))
      }
      const rollups = await tagsOf('rollups')
      const duckdb = await tagsOf('duckdb')
      expect(rollups.length).toBeGreaterThan(0)
      expect(duckdb.filter((tag) => rollups.includes(tag))).toEqual([])
      // Both engines applied the payment (the answers waited for it): each dropped its own tags only.
      const own = (mine: readonly string[], other: readonly string[]) =>
        dropped
          .filter((tags) => tags.some((tag) => mine.includes(tag)))
          .every((tags) => !tags.some((tag) => other.includes(tag)))
      expect(dropped.some((tags) => tags.some((tag) => rollups.includes(tag)))).toBe(true)
      expect(dropped.some((tags) => tags.some((tag) => duckdb.includes(tag)))).toBe(true)
      expect(own(rollups, duckdb) && own(duckdb, rollups)).toBe(true)
    } finally {
      off()
    }
  })

  it('shows the card as of a moment before and after each change, as the write side folds it', async () => {
    const start = Date.now()
    t.shiftClock(0)
    const cardId = await issue(t, { customerId: 'ona', creditLimit: 500_000 })
    t.shiftClock(hour)
    const { transactionId } = await run<Decision>(
      t,
      c.authorizeTransaction,
      payment(cardId, 120_000),
      network,
    )
    t.shiftClock(2 * hour)
    await run(t, c.updateTransaction, { transactionId, action: 'capture', amount: 100_000 }, network)
    t.shiftClock(3 * hour)
    await run(t, c.changeCreditLimit, { cardId, creditLimit: 300_000 }, agent)
    t.shiftClock(4 * hour)
    const done = await t.commands.execute(c.blockCard, { cardId }, { caller: agent })
    t.shiftClock(0)
    if (done.status === 'failed') throw new Error('not blocked')
    type History = {
      customerId: string
      state: {
        status: string
        creditLimit: number
        holds: number
        posted: number
        outstanding: number
      } | null
      events: { type: string; at: string; data: Record<string, unknown> }[]
    }
    const now = await ask<History>(getCardHistory, { cardId }, customer('ona'), done.position ?? undefined)
    expect(now.events.map((e) => e.type).toReversed()).toEqual([
      'CardIssued',
      'TransactionAuthorized',
      'TransactionCaptured',
      'CreditLimitChanged',
      'CardBlocked',
    ])
    const moment = (hours: number) => new Date(start + hours * hour + 30 * 60_000).toISOString()
    const expected = [
      [-1, null],
      [0, { status: 'active', creditLimit: 500_000, holds: 0, posted: 0, outstanding: 0 }],
      [1, { status: 'active', creditLimit: 500_000, holds: 120_000, posted: 0, outstanding: 120_000 }],
      [2, { status: 'active', creditLimit: 500_000, holds: 0, posted: 100_000, outstanding: 100_000 }],
      [3, { status: 'active', creditLimit: 300_000, holds: 0, posted: 100_000, outstanding: 100_000 }],
      [4, { status: 'blocked', creditLimit: 300_000, holds: 0, posted: 100_000, outstanding: 100_000 }],
    ] as const
    const all = now.events.toReversed()
    for (const [hours, state] of expected) {
      const at = moment(hours)
      const then = await ask<History>(getCardHistory, { cardId, at }, agent)
      if (state === null) expect(then.state).toBeNull()
      else expect(then.state).toMatchObject(state)
      expect(then.events).toHaveLength(hours + 1)
      // The write side's fold of the same events agrees.
      const folded = cardAfter(
        { status: 'absent', cardId, version: 0 },
        all.filter((e) => e.at <= at).map((e) => ({ type: e.type, data: e.data }) as CardsEvent),
      )
      if (folded.status !== 'absent')
        expect(then.state).toMatchObject({
          status: folded.status,
          creditLimit: folded.creditLimit,
          holds: folded.holds,
          posted: folded.posted,
        })
    }
    // Another customer's card is as unknown as one that never was.
    await expect(ask(getCardHistory, { cardId }, customer('someone-else'))).rejects.toThrow(
      '404 CARD_NOT_FOUND',
    )
  })

  it("lists a customer's cards newest first, each as the write side has it, at once after each command", async () => {
    type Card = { cardId: string; status: string; creditLimit: number; holds: number; posted: number }
    type Cards = { items: (Card & { outstanding: number; available: number })[]; nextCursor: string | null }
    const cardIds: string[] = []
    for (let i = 0; i < 3; i++) {
      t.shiftClock(i * hour)
      cardIds.push(await issue(t, { customerId: 'ines', creditLimit: 100_000 * (i + 1) }))
    }
    t.shiftClock(0)
    const [first, second, third] = cardIds as [string, string, string]
    const { transactionId } = await run<Decision>(t, c.authorizeTransaction, payment(first, 30_000), network)
    await run(t, c.updateTransaction, { transactionId, action: 'capture', amount: 20_000 }, network)
    await run(t, c.authorizeTransaction, payment(first, 5_000), network)
    await run(t, c.blockCard, { cardId: second }, agent)
    const lost = await t.commands.execute(c.reportCardLost, { cardId: third }, { caller: customer('ines') })
    if (lost.status === 'failed' || !lost.position) throw new Error('not reported')
    const listed = await ask<Cards>(getCards, {}, customer('ines'), lost.position)
    expect(listed.items.map((card) => card.cardId)).toEqual([third, second, first])
    expect(listed.nextCursor).toBeNull()
    for (const card of listed.items) {
      const row = await cardRow(t, card.cardId)
      expect(card).toMatchObject({
        status: row?.status,
        creditLimit: row?.creditLimit,
        holds: row?.holds,
        posted: row?.posted,
      })
      expect(card.available).toBe(card.creditLimit - card.holds - card.posted)
    }
    expect(listed.items.map((card) => card.status)).toEqual(['lost', 'blocked', 'active'])
    expect(listed.items[2]).toMatchObject({
      holds: 5_000,
      posted: 20_000,
      outstanding: 25_000,
      available: 75_000,
    })

    // A page is dropped when a card on it changes, or a card is issued to the customer.
    const cached = await t.queries.ask(getCards, {}, { caller: customer('ines') })
    expect(cached.status === 'succeeded' && cached.cacheHit).toBe(true)
    const paid = await t.commands.execute(c.authorizeTransaction, payment(first, 1_000), { caller: network })
    if (paid.status === 'failed' || !paid.position) throw new Error('not authorized')
    const after = await ask<Cards>(getCards, {}, customer('ines'), paid.position)
    expect(after.items[2]?.holds).toBe(6_000)
    expect((await ask<Cards>(getCards, { limit: 1 }, customer('ines'))).items[0]?.cardId).toBe(third)
    t.shiftClock(4 * hour)
    const issued = await t.commands.execute(
      c.issueCard,
      { customerId: 'ines', product: 'classic', creditLimit: 50_000, currency: 'KRW', expiresAt: inYears(2) },
      { caller: agent },
    )
    t.shiftClock(0)
    if (issued.status === 'failed' || !issued.position) throw new Error('not issued')
    const fourth = issued.result.cardId
    const newest = await ask<Cards>(getCards, { limit: 1 }, customer('ines'), issued.position)
    expect(newest.items.map((card) => card.cardId)).toEqual([fourth])

    // The cursor walks them all; an agent names the customer (the read on the access log), a
    // customer another's is 403, and a customer with no card an empty page.
    const walked: string[] = []
    let cursor: string | null = null
    do {
      const page: Cards = await ask<Cards>(
        getCards,
        { customerId: 'ines', limit: 1, ...(cursor ? { cursor } : {}) },
        agent,
      )
      walked.push(...page.items.map((card) => card.cardId))
      cursor = page.nextCursor
    } while (cursor)
    expect(walked).toEqual([fourth, third, second, first])
    await expect(ask(getCards, {}, agent)).rejects.toThrow('400 VALIDATION_FAILED')
    await expect(ask(getCards, { customerId: 'ines' }, customer('jude'))).rejects.toThrow('403 FORBIDDEN')
    expect((await ask<Cards>(getCards, {}, customer('jude'))).items).toEqual([])
    await t.audit.flush()
    type Log = { items: { agentId: string; query: string }[] }
    const log = await ask<Log>(getAccessLog, { customerId: 'ines' }, admin)
    expect(log.items.filter((e) => e.query === 'cards/get-cards').map((e) => e.agentId)).toEqual(
      Array.from({ length: 4 }, () => agent.id),
    )
  })

  it("puts an agent's reads of a customer's data on the access log, not the customer's own", async () => {
    const cardId = await issue(t, { customerId: 'pia' })
    const paid = await t.commands.execute(c.authorizeTransaction, payment(cardId, 5_000), { caller: network })
    const position = paid.status === 'succeeded' ? (paid.position ?? undefined) : undefined
    const month = new Date().toISOString().slice(0, 7)
    const snoop: Caller = { id: 'agent-snoop', roles: ['agent'] }
    // A card's page names its customer by the transactions it shows: wait for the one made.
    await ask(getRecentTransactions, { cardId }, snoop, position)
    await ask(spending.getMonthlySpendingSummary, { customerId: 'pia', month }, snoop)
    await ask(getCardHistory, { cardId }, snoop)
    await ask(getRecentTransactions, {}, customer('pia'))
    await t.audit.flush()
    type Log = { items: { agentId: string; customerId: string; query: string }[]; nextCursor: string | null }
    const log = await ask<Log>(getAccessLog, { customerId: 'pia' }, admin)
    expect(log.items.map((e) => [e.agentId, e.customerId, e.query])).toEqual([
      ['agent-snoop', 'pia', 'cards/get-card-history'],
      ['agent-snoop', 'pia', 'cards/get-monthly-spending-summary'],
      ['agent-snoop', 'pia', 'cards/get-recent-transactions'],
    ])
    const byAgent = await ask<Log>(getAccessLog, { agentId: 'agent-snoop', limit: 2 }, admin)
    expect(byAgent.items).toHaveLength(2)
    const rest = await ask<Log>(getAccessLog, { agentId: 'agent-snoop', cursor: byAgent.nextCursor }, admin)
    expect(rest.items.map((e) => e.query)).toEqual(['cards/get-recent-transactions'])
    await expect(ask(getAccessLog, {}, snoop)).rejects.toThrow('403 FORBIDDEN')
  })

  it("logs an agent's read of a customer's card with nothing on it: the card is theirs, and shown empty", async () => {
    const cardId = await issue(t, { customerId: 'quinn' })
    const snoop: Caller = { id: 'agent-empty', roles: ['agent'] }
    const page = await ask<{ items: unknown[] }>(getRecentTransactions, { cardId }, snoop)
    expect(page.items).toEqual([])
    await t.audit.flush()
    type Log = { items: { agentId: string; customerId: string; query: string }[] }
    const log = await ask<Log>(getAccessLog, { customerId: 'quinn' }, admin)
    expect(log.items.map((e) => [e.agentId, e.customerId, e.query])).toEqual([
      ['agent-empty', 'quinn', 'cards/get-recent-transactions'],
    ])
  })
})

describe('cards: engine=duckdb where the process keeps no replica (CARDS_DUCKDB=off, as the specs run)', () => {
  it('is a 400 at /engine; the rollups answer', async () => {
    const t = await startTestTandem('embedded', {
      domains: [cardsTestDomain],
    })
    try {
      const input = { customerId: 'nobody', month: '2031-03' }
      const refused = await t.queries.ask(
        spending.getMonthlySpendingSummary,
        { ...input, engine: 'duckdb' },
        {
          caller: agent,
        },
      )
      expect(refused.status === 'failed' && [refused.error.status, refused.error.code]).toEqual([
        400,
        'VALIDATION_FAILED',
      ])
      expect(refused.status === 'failed' && JSON.stringify(refused.error)).toContain('/engine')
      const answered = await t.queries.ask(spending.getMonthlySpendingSummary, input, { caller: agent })
      expect(answered.status).toBe('succeeded')
    } finally {
      await t.dispose()
    }
  })
})
