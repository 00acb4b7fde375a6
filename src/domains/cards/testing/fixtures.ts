import type { Caller } from '../../../kernel/index.js'
import type { Card } from '../rules.js'

/** The decider specs' world: a fixed clock and id, callers, and a card written out as a value. */
export const now = '2031-03-01T09:00:00.000Z'
export const newId = '0190a0d0-0000-7000-8000-0000000000ff'
export const cardId = '0190a0d0-0000-7000-8000-00000000c001'
export const agent: Caller = { id: 'agent-1', roles: ['agent'] }
export const network: Caller = { id: 'visa', roles: ['network'] }
export const kim: Caller = { id: 'kim', roles: ['customer'] }

/** Kim's gold card: 100,000 limit, 30,000 held, 20,000 posted (50,000 available). */
export const card = (o: Partial<Card> = {}): Card => ({
  status: 'active',
  cardId,
  customerId: 'kim',
  product: 'gold',
  currency: 'KRW',
  creditLimit: 100_000,
  holds: 30_000,
  posted: 20_000,
  expiresAt: '2033-01-01T00:00:00.000Z',
  version: 5,
  issuedAt: '2030-01-01T00:00:00.000Z',
  updatedAt: '2031-02-01T00:00:00.000Z',
  ...o,
})
