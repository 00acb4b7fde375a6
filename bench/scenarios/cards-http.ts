import type { Caller } from '../../src/core/messages.js'
import type { BenchContext } from '../lib/context.js'
import { runLoad, type RequestSpec } from '../lib/load.js'
import type { Measurement } from '../lib/results.js'
import type { TandemServer } from '../lib/tandem-server.js'
import { cardIdOf, customerOf, merchantIdOf, networkOf, type CardsPlan } from './cards-plan.js'
import { describeMeasurement } from './scenario.js'

const authorizePath = '/api/commands/cards/authorize-transaction'
const query = (name: string) => `/api/queries/cards/${name}`
const any = <T>(list: readonly T[]) => list[Math.floor(Math.random() * list.length)] as T

/**
 * Tokens of the scenario's callers, signed with the server's secret: one per caller, kept, as a
 * client keeps its token (a token signed anew for every request would be checked anew by the server).
 */
export function callers(tandem: TandemServer, plan: CardsPlan) {
  const token = (caller: Caller) =>
    `Bearer ${tandem.auth.sign({ sub: caller.id, roles: caller.roles }, { expiresInSeconds: 7200 })}`
  const customers = new Map<string, string>()
  return {
    network: token(networkOf(plan)),
    admin: token({ id: `cadm-${plan.tag}`, roles: ['admin'] }),
    customer(c: number) {
      const id = customerOf(plan, c)
      let kept = customers.get(id)
      if (kept === undefined) customers.set(id, (kept = token({ id, roles: ['customer'] })))
      return kept
    },
  }
}

/** An authorization of a small amount at a merchant of the plan: always within the card's limit. */
export function authorization(plan: CardsPlan, cardIndex: number, network: string): RequestSpec {
  const m = Math.floor(Math.random() * plan.merchants)
  return {
    method: 'POST',
    path: authorizePath,
    headers: { authorization: network },
    body: JSON.stringify({
      cardId: cardIdOf(plan, cardIndex),
      amount: 1_000 + Math.floor(Math.random() * 49_000),
      currency: 'KRW',
      merchantId: merchantIdOf(plan, m),
      merchantName: `Merchant ${m}`,
      mcc: '5411',
      country: 'KR',
      city: 'Seoul',
    }),
  }
}

/**
 * `authorize-transaction` at `connections`, spread over the first 10,000 cards (`spread`, fewer in a
 * smoke run) or all on card 0 (the hot card), for the run's span; or, with `pass`, once on each card
 * of the spread in turn (the first `connections` of them warm the connections up). Every answer is a
 * decision; an approval is counted.
 */
export async function authorizeLoad(
  ctx: BenchContext,
  tandem: TandemServer,
  plan: CardsPlan,
  options: { label: string; connections: number; spread: number; pass?: boolean },
): Promise<{ measurement: Measurement; approved: number; declined: number }> {
  const { network } = callers(tandem, plan)
  let approved = 0
  let declined = 0
  let turn = 0
  const warmRequests = Math.min(options.connections, options.spread - 1)
  const measurement = await runLoad({
    label: options.label,
    url: tandem.server.url,
    serverPid: tandem.server.pid,
    connections: options.connections,
    span: options.pass ? { requests: options.spread - warmRequests, warmRequests } : ctx.span,
    unit: 'decisions/s',
    next: () =>
      authorization(
        plan,
        options.pass ? turn++ % options.spread : Math.floor(Math.random() * options.spread),
        network,
      ),
    onBody: (status, body) => {
      if (status !== 200) return
      if (body.includes('"approved"')) approved++
      else declined++
    },
  })
  ctx.log(describeMeasurement(measurement))
  return { measurement, approved, declined }
}

/** One authorization over HTTP, answered: its log position (for freshness). */
export async function authorizeOnce(
  tandem: TandemServer,
  plan: CardsPlan,
  cardIndex: number,
): Promise<string> {
  const spec = authorization(plan, cardIndex, callers(tandem, plan).network)
  const response = await fetch(`${tandem.server.url}${spec.path}`, {
    method: 'POST',
    headers: { ...spec.headers, 'content-type': 'application/json' },
    body: spec.body ?? null,
  })
  const body = (await response.json()) as { position?: string }
  if (!response.ok || body.position === undefined)
    throw new Error(`authorize: ${response.status} ${JSON.stringify(body)}`)
  return body.position
}

/**
 * The three read queries the issue times, as the read side defines them (projections/schemas.ts),
 * asked by the callers who may: a customer for their own transactions and month, an admin for a
 * merchant. Months and days are those of the plan's data.
 */
export function readAsks(tandem: TandemServer, plan: CardsPlan) {
  const who = callers(tandem, plan)
  const lastDay = new Date(plan.base + plan.transactions * plan.spacingMs)
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10)
  const months = [
    ...new Set(Array.from({ length: 4 }, (_, k) => day(lastDay.getTime() - k * 30 * 86_400_000).slice(0, 7))),
  ]
  const card = () => Math.floor(Math.random() * plan.cards)
  return {
    recent: (): RequestSpec => {
      const c = card()
      const params = Math.random() < 0.5 ? `cardId=${cardIdOf(plan, c)}` : `customerId=${customerOf(plan, c)}`
      return {
        method: 'GET',
        path: `${query('get-recent-transactions')}?${params}&limit=20`,
        headers: { authorization: who.customer(c) },
      }
    },
    monthly: (engine?: string): RequestSpec => {
      const c = card()
      const params = new URLSearchParams({
        customerId: customerOf(plan, c),
        month: any(months),
        ...(engine ? { engine } : {}),
      })
      return {
        method: 'GET',
        path: `${query('get-monthly-spending-summary')}?${params.toString()}`,
        headers: { authorization: who.customer(c) },
      }
    },
    merchant: (engine?: string): RequestSpec => {
      // Popular merchants as often as the plan pays them: the square of a uniform draw.
      const m = Math.floor(Math.random() ** 2 * plan.merchants)
      const to = lastDay.getTime() - Math.floor(Math.random() * 60) * 86_400_000
      const params = new URLSearchParams({
        merchantId: merchantIdOf(plan, m),
        from: day(to - 29 * 86_400_000),
        to: day(to),
        bucket: Math.random() < 0.5 ? 'day' : 'month',
        ...(engine ? { engine } : {}),
      })
      return {
        method: 'GET',
        path: `${query('get-merchant-summary')}?${params.toString()}`,
        headers: { authorization: who.admin },
      }
    },
  }
}

/** Whether the server serves a query at all (the read side may not have registered it yet). */
export async function serves(
  tandem: TandemServer,
  spec: RequestSpec,
): Promise<{ served: boolean; status: number; body: string }> {
  const response = await fetch(`${tandem.server.url}${spec.path}`, { headers: spec.headers })
  const body = await response.text()
  const unknownRoute = response.status === 404 && !body.includes('"code"')
  return {
    served: !unknownRoute && response.status !== 404,
    status: response.status,
    body: body.slice(0, 300),
  }
}
