import Type, { type Static } from 'typebox'
import type { Domain } from '../../app/domain.js'
import type { Tandem } from '../../app/tandem.js'
import { eventSourced } from '../../core/decider.js'
import { ConflictError } from '../../core/errors.js'
import { defineCommand, defineEvent, signedIn, type Caller } from '../../core/messages.js'
import { defineProcessor, type ProcessorContext } from '../processor.js'

/**
 * A toy domain for the processor tests: placing an order records `OrderPlaced`; the `notifier`
 * processor answers each with two `send-notice` commands (`placed`, then `followup`), each of which
 * appends a `NoticeSent` to its own stream. A notice sent twice is two events: the tests count them.
 */
export const OrderPlaced = defineEvent('OrderPlaced', Type.Object({ orderId: Type.String() }))
const NoticeSent = defineEvent('NoticeSent', Type.Object({ orderId: Type.String(), kind: Type.String() }))

const Order = Type.Object({ orderId: Type.String() })
export const placeOrder = defineCommand({
  domain: 'orders',
  name: 'place-order',
  summary: 'Place an order',
  input: Order,
  output: Type.Object({}),
  access: signedIn(),
  handle: eventSourced({
    streamId: (input: Static<typeof Order>) => `order-${input.orderId}`,
    initial: null,
    evolve: (state: null) => state,
    decide: (input) => [OrderPlaced.create({ orderId: input.orderId })],
    result: () => ({}),
  }),
})

const Notice = Type.Object({ orderId: Type.String(), kind: Type.String() })
type NoticeEvent = ReturnType<typeof NoticeSent.create>
/** Refused (a business answer) for orders whose id starts with `blocked`. */
export const sendNotice = defineCommand({
  domain: 'orders',
  name: 'send-notice',
  summary: 'Send a notice about an order',
  input: Notice,
  output: Type.Object({}),
  access: signedIn('system'),
  refusals: { 409: ['ORDER_BLOCKED'] },
  handle: eventSourced({
    streamId: (input: Static<typeof Notice>) => `notice-${input.orderId}-${input.kind}`,
    initial: 0,
    evolve: (sent: number, _event: NoticeEvent) => sent + 1,
    decide(input) {
      if (input.orderId.startsWith('blocked')) throw new ConflictError('ORDER_BLOCKED', 'Order blocked')
      return [NoticeSent.create(input)]
    },
    result: () => ({}),
  }),
})

/** What a test makes the notifier do for one order, beyond its two sends. */
export interface Plan {
  /** Failures to throw after the first send (Infinity: every attempt). */
  failures?: number
  /** Once: after the first send, call this and wait until the process stops (a crash mid-event). */
  crash?: () => void
}

export const plans = new Map<string, Plan>()
/** Handlings per order, attempts included, in every process of the test. */
export const handled = new Map<string, number>()
/** The answer to each order's first send: `sent` or the refusal's code. */
export const outcomes = new Map<string, string>()

const stopped = (ctx: ProcessorContext) =>
  new Promise<never>((_, reject) => {
    if (ctx.signal.aborted) reject(new Error('stopped'))
    ctx.signal.addEventListener('abort', () => reject(new Error('stopped')))
  })

export const notifier = defineProcessor({
  domain: 'orders',
  name: 'notifier',
  version: 1,
  events: [OrderPlaced],
  startFrom: 'beginning',
  retry: { attempts: 3, backoffMs: 5 },
  async handle(event, ctx) {
    const { orderId } = event.data
    handled.set(orderId, (handled.get(orderId) ?? 0) + 1)
    const first = await ctx.send(sendNotice, { orderId, kind: 'placed' })
    outcomes.set(orderId, first.status === 'succeeded' ? 'sent' : first.error.code)
    const plan = plans.get(orderId)
    const crash = plan?.crash
    if (crash) {
      plan.crash = undefined
      crash()
      await stopped(ctx)
    }
    if (plan?.failures) {
      plan.failures--
      throw new Error(`injected failure for ${orderId}`)
    }
    await ctx.send(sendNotice, { orderId, kind: 'followup' })
  },
})

export const ordersDomain: Domain = {
  name: 'orders',
  events: [OrderPlaced, NoticeSent],
  commands: [placeOrder, sendNotice],
  queries: [],
  projections: [],
  migrations: [],
  processors: [notifier],
}

export const customer: Caller = { id: 'customer', roles: [] }

export async function place(tandem: Pick<Tandem, 'commands'>, orderId: string): Promise<string> {
  const done = await tandem.commands.execute(placeOrder, { orderId }, { caller: customer })
  if (done.status === 'failed') throw done.error
  return done.position ?? '0'
}

/** The notices recorded for an order, by kind. */
export async function notices(tandem: Pick<Tandem, 'sql'>, orderId: string): Promise<Record<string, number>> {
  const rows = await tandem.sql.query<{ kind: string; n: number }>(
    `SELECT data->>'kind' AS kind, count(*)::int AS n FROM tandem.event_log
     WHERE type = 'NoticeSent' AND data->>'orderId' = $1 GROUP BY 1`,
    [orderId],
  )
  return Object.fromEntries(rows.map((r) => [r.kind, r.n]))
}

/** Checks `done` every 10 ms until it holds; fails after `timeoutMs`. */
export async function until(done: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error('timed out waiting')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** Waits until the order has its two notices. */
export const notified = (tandem: Pick<Tandem, 'sql'>, orderId: string) =>
  until(async () => ((await notices(tandem, orderId)).followup ?? 0) >= 1)
