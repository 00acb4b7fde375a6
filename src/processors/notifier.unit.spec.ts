import { afterEach, describe, expect, it } from 'vitest'
import { ConflictError } from '../core/errors.js'
import { processorSpec } from '../testing/kit.js'
import { handled, notifier, OrderPlaced, plans } from './testing/orders.js'

/** The orders toy domain's notifier, through the kit's processor spec: no database, no waiting. */
const blocked = (input: unknown) => (input as { orderId: string }).orderId.startsWith('blocked')
const given = processorSpec(notifier, {
  answer({ input }) {
    if (blocked(input)) throw new ConflictError('ORDER_BLOCKED', 'Order blocked')
    return {}
  },
})
const placed = (orderId: string) => OrderPlaced.create({ orderId })
const notice = (orderId: string, kind: string, key: string) => ({
  command: 'orders/send-notice',
  input: { orderId, kind },
  key,
  caller: 'processor:orders/notifier',
})
afterEach(() => {
  plans.clear()
  handled.clear()
})

describe('the notifier', () => {
  it('sends a placed notice, then a followup, each keyed by the event’s position and its place', async () => {
    const run = await given(placed('o1'), placed('o2'))
    expect(run.sent).toEqual([
      notice('o1', 'placed', 'processor:orders/notifier:1'),
      notice('o1', 'followup', 'processor:orders/notifier:1:1'),
      notice('o2', 'placed', 'processor:orders/notifier:2'),
      notice('o2', 'followup', 'processor:orders/notifier:2:1'),
    ])
    expect(run.deadLetters).toEqual([])
  })

  it('takes a refusal as the answer and moves on: no retry, no dead letter', async () => {
    const run = await given(placed('blocked-1'))
    expect(run.handled).toEqual([{ position: '1', eventType: 'OrderPlaced', attempts: 1 }])
    expect(run.sent.map((s) => s.input)).toEqual([
      { orderId: 'blocked-1', kind: 'placed' },
      { orderId: 'blocked-1', kind: 'followup' },
    ])
  })

  it('tries a failing event again, and its repeated sends act once in effect', async () => {
    plans.set('flaky', { failures: 2 })
    const run = await given(placed('flaky'))
    expect(run.handled).toEqual([{ position: '1', eventType: 'OrderPlaced', attempts: 3 }])
    expect(run.sends.map((s) => s.input)).toEqual([
      { orderId: 'flaky', kind: 'placed' },
      { orderId: 'flaky', kind: 'placed' },
      { orderId: 'flaky', kind: 'placed' },
      { orderId: 'flaky', kind: 'followup' },
    ])
    expect(run.sent).toEqual([
      notice('flaky', 'placed', 'processor:orders/notifier:1'),
      notice('flaky', 'followup', 'processor:orders/notifier:1:1'),
    ])
  })

  it('parks an event that fails every attempt as a dead letter, and handles the next one', async () => {
    plans.set('poison', { failures: Infinity })
    const run = await given(placed('poison'), placed('next'))
    expect(run.deadLetters).toEqual([
      { position: '1', eventType: 'OrderPlaced', error: 'injected failure for poison', attempts: 3 },
    ])
    expect(run.sent.map((s) => s.key)).toEqual([
      'processor:orders/notifier:1',
      'processor:orders/notifier:2',
      'processor:orders/notifier:2:1',
    ])
  })

  it('sends nothing more when the events are delivered again (a crash before the checkpoint moved)', async () => {
    const run = await given(placed('o1'))
    const again = await run.redeliver()
    expect(again.sends).toHaveLength(2)
    expect(again.sent).toEqual([])
  })
})
