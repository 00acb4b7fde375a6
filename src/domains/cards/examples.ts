/**
 * The commands' examples, one story in the order the commands are listed (`tandem test-commands`):
 * two cards are issued, one is reported lost, the other blocked, unblocked and given a new limit;
 * it takes four payments (one declined), which are captured, reversed, adjusted and failed; an
 * auto-payment is registered and cancelled. Fixed ids, so a later example names what an earlier one made.
 */

export const exampleCardId = '0190b0c0-0000-7000-8000-00000000ca01'
const lostCardId = '0190b0c0-0000-7000-8000-00000000ca02'
const captured = '0190b0c0-0000-7000-8000-00000000a001'
const reversed = '0190b0c0-0000-7000-8000-00000000a002'
const adjusted = '0190b0c0-0000-7000-8000-00000000a003'
const autoPaymentId = '0190b0c0-0000-7000-8000-00000000b001'

export const issueCard = [
  {
    cardId: exampleCardId,
    customerId: 'demo-customer',
    product: 'gold' as const,
    creditLimit: 5_000_000,
    currency: 'KRW',
    expiresAt: '2099-12-31T00:00:00Z',
  },
  {
    cardId: lostCardId,
    customerId: 'demo-customer',
    product: 'classic' as const,
    creditLimit: 1_000_000,
    currency: 'KRW',
    expiresAt: '2099-12-31T00:00:00Z',
  },
]
export const reportCardLost = [{ cardId: lostCardId }]
export const blockCard = [{ cardId: exampleCardId, reason: 'Unusual activity reported by the customer' }]
export const unblockCard = [{ cardId: exampleCardId }]
export const changeCreditLimit = [{ cardId: exampleCardId, creditLimit: 8_000_000 }]

const merchant = {
  currency: 'KRW',
  merchantId: 'cafe-seoul-042',
  merchantName: 'Cafe Seoul',
  mcc: '5814',
  country: 'KR',
  city: 'Seoul',
}
export const authorizeTransaction = [
  { transactionId: captured, cardId: exampleCardId, amount: 45_000, ...merchant },
  { transactionId: reversed, cardId: exampleCardId, amount: 12_000, ...merchant },
  {
    transactionId: adjusted,
    cardId: exampleCardId,
    amount: 120_000,
    currency: 'KRW',
    merchantId: 'grand-hotel-busan',
    merchantName: 'Grand Hotel Busan',
    mcc: '7011',
    country: 'KR',
    city: 'Busan',
  },
  // Declined: the card is in KRW (CURRENCY_MISMATCH), answered as a decision.
  { cardId: exampleCardId, amount: 3_000, ...merchant, currency: 'USD' },
]
export const updateTransaction = [
  { transactionId: captured, action: 'capture' as const, amount: 42_000 },
  { transactionId: reversed, action: 'reverse' as const },
  { transactionId: adjusted, action: 'adjust' as const, amount: 150_000 },
]
export const markTransactionFailed = [
  { transactionId: adjusted, reason: 'Settlement rejected by the acquirer' },
]
/** Captured already: nothing to release. */
export const expireHold = [{ cardId: exampleCardId, transactionId: captured }]
export const registerAutoPayment = [
  {
    autoPaymentId,
    cardId: exampleCardId,
    merchantId: 'stream-tv',
    merchantName: 'StreamTV subscription',
    amount: 13_900,
    dayOfMonth: 15,
  },
]
export const cancelAutoPayment = [{ autoPaymentId }]
/** Cancelled already: nothing to submit. */
export const submitAutoPayment = [{ autoPaymentId, dueAt: '2099-01-15T00:00:00Z' }]
