import { randomUUID } from 'node:crypto'
import type { AnyCommand, Caller } from '../../../kernel/index.js'
import type { TestTandem } from '../../../kernel/testing.js'
import { defineCardCommands } from '../commands.js'
import { createCardsDomain } from '../index.js'
import type { CardPolicy } from '../rules.js'

/** The rules' settings the cards specs run with, whatever the environment says. */
export const testPolicy: CardPolicy = {
  holdExpiryHours: 168,
  amountLimits: { classic: 2_000_000, gold: 10_000_000, platinum: 50_000_000 },
}
export const commands = defineCardCommands(testPolicy)
/**
 * The domain the specs run on keeps no DuckDB replica: each Tandem would open one and follow the log
 * (a sixth of the cards specs' time). Those that ask engine=duckdb run on `cardsWithDuckDb`.
 */
export const cardsTestDomain = createCardsDomain(commands, { store: 'off' })
export const cardsWithDuckDb = createCardsDomain(commands, { store: 'memory' })

export const agent: Caller = { id: 'agent-1', roles: ['agent'] }
export const network: Caller = { id: 'network-1', roles: ['network'] }
export const system: Caller = { id: 'system:timers', roles: ['system'] }
export const customer = (id: string): Caller => ({ id, roles: ['customer'] })

export const hour = 3600_000
export const inYears = (years: number) => new Date(Date.now() + years * 365 * 24 * hour).toISOString()

/** A payment at a merchant, in KRW, for `authorize-transaction`. */
export const payment = (cardId: string, amount: number, extra: Record<string, unknown> = {}) => ({
  cardId,
  amount,
  currency: 'KRW',
  merchantId: 'shop-1',
  merchantName: 'Shop One',
  mcc: '5411',
  country: 'KR',
  ...extra,
})

type Definition = AnyCommand

/** Runs a command and gives its result, or throws its refusal's `<status> <code>`. */
export async function run<R = Record<string, unknown>>(
  t: Pick<TestTandem, 'commands'>,
  command: Definition,
  input: unknown,
  caller: Caller,
): Promise<R> {
  const done = await t.commands.execute(command, input, { caller })
  if (done.status === 'failed') throw new Error(`${done.error.status} ${done.error.code}`)
  return done.result as R
}

/** The refusal a command gets, as `<status> <code>` (a success fails the test). */
export async function refusal(
  t: Pick<TestTandem, 'commands'>,
  command: Definition,
  input: unknown,
  caller: Caller,
): Promise<string> {
  const done = await t.commands.execute(command, input, { caller })
  if (done.status !== 'failed') throw new Error(`Expected a refusal, got ${JSON.stringify(done.result)}`)
  return `${done.error.status} ${done.error.code}`
}

/** Issues a card (KRW, gold, three years) and gives its id. */
export async function issue(
  t: Pick<TestTandem, 'commands'>,
  options: { customerId?: string; creditLimit?: number; product?: string; currency?: string } = {},
): Promise<string> {
  const { cardId } = await run<{ cardId: string }>(
    t,
    commands.issueCard,
    {
      customerId: options.customerId ?? `customer-${randomUUID()}`,
      product: options.product ?? 'gold',
      creditLimit: options.creditLimit ?? 1_000_000,
      currency: options.currency ?? 'KRW',
      expiresAt: inYears(3),
    },
    agent,
  )
  return cardId
}

export interface CardFigures {
  creditLimit: number
  holds: number
  posted: number
  status: string
  version: number
}

/** The card's row, straight from the write model. */
export async function cardRow(t: Pick<TestTandem, 'sql'>, cardId: string): Promise<CardFigures | undefined> {
  const [row] = await t.sql.query<CardFigures>(
    `SELECT credit_limit::float8 AS "creditLimit", holds::float8 AS holds, posted::float8 AS posted, status, version
     FROM cards.card WHERE card_id = $1`,
    [cardId],
  )
  return row
}

/** The types of the card's events, in stream order. */
export async function eventTypes(t: Pick<TestTandem, 'sql'>, cardId: string): Promise<string[]> {
  const rows = await t.sql.query<{ type: string }>(
    'SELECT type FROM tandem.event_log WHERE stream_id = $1 ORDER BY stream_version',
    [`card-${cardId}`],
  )
  return rows.map((r) => r.type)
}
