import { exampleCardId } from '../examples.js'
import { alertIdOf } from './rules.js'

/**
 * The examples of anomaly detection, after the cards' own story (`tandem test-commands`): a payment
 * at a casino (MCC 7995, a risky category) on the example card is checked, which raises an alert;
 * an agent resolves it. Fixed ids, so the resolve names the alert the check raised.
 */
const casinoTransactionId = '0190b0c0-0000-7000-8000-00000000a0f1'

export const detectExample = {
  transactionId: casinoTransactionId,
  cardId: exampleCardId,
  customerId: 'demo-customer',
  decision: 'approved' as const,
  amount: 300_000,
  currency: 'KRW',
  mcc: '7995',
  country: 'KR',
  occurredAt: '2030-01-01T21:00:00Z',
  decidedAt: '2030-01-01T21:00:01Z',
}

export const exampleAlertId = alertIdOf('risky-mcc', casinoTransactionId)

export const resolveExample = {
  alertId: exampleAlertId,
  resolution: 'legitimate' as const,
  note: 'The customer confirmed the visit to the casino',
}
