import Type, { type Static } from 'typebox'

/**
 * Spending categories, from the merchant category code (ISO 18245) a payment carries. The map is
 * ranges of codes, first match wins; a code in none is `other`. Coarse on purpose: a customer's
 * monthly summary reads well with about a dozen categories.
 */
export const categories = [
  'groceries',
  'dining',
  'transport',
  'travel',
  'fuel',
  'shopping',
  'entertainment',
  'health',
  'utilities',
  'subscriptions',
  'services',
  'cash',
  'other',
] as const
export const Category = Type.Enum(categories, { description: 'Spending category of the merchant code' })
export type Category = Static<typeof Category>

/** [first code, last code, category]: the documented map (docs/cards-read-models.md). */
export const mccRanges: readonly (readonly [number, number, Category])[] = [
  [5411, 5411, 'groceries'], // grocery stores, supermarkets
  [5422, 5499, 'groceries'], // meat, bakeries, convenience and specialty food
  [5811, 5814, 'dining'], // caterers, restaurants, bars, fast food
  [4011, 4131, 'transport'], // railways, commuter transport, taxis, buses
  [4784, 4789, 'transport'], // tolls, transportation services
  [7511, 7511, 'transport'], // truck stops
  [7513, 7523, 'transport'], // truck rental, parking
  [3000, 3999, 'travel'], // airlines, car rental and hotel chains by name
  [4411, 4411, 'travel'], // cruise lines
  [4511, 4582, 'travel'], // airlines, airports
  [4722, 4723, 'travel'], // travel agencies
  [7011, 7033, 'travel'], // hotels, timeshares, campgrounds
  [7512, 7512, 'travel'], // car rental
  [5541, 5542, 'fuel'], // service stations, automated fuel dispensers
  [5552, 5552, 'fuel'], // electric vehicle charging
  [5968, 5968, 'subscriptions'], // continuity and subscription merchants
  [4899, 4899, 'subscriptions'], // cable, satellite, streaming
  [5815, 5818, 'subscriptions'], // digital goods: media, games, apps
  [4812, 4816, 'utilities'], // telecom, computer networks
  [4900, 4900, 'utilities'], // electric, gas, water
  [8011, 8099, 'health'], // doctors, dentists, hospitals, labs
  [5912, 5912, 'health'], // drug stores, pharmacies
  [5975, 5976, 'health'], // hearing aids, orthopedic goods
  [7832, 7841, 'entertainment'], // cinemas, video
  [7911, 7999, 'entertainment'], // dance halls, theatre, sports, amusement, recreation
  [6010, 6012, 'cash'], // cash disbursements, quasi-cash
  [6051, 6051, 'cash'], // quasi-cash (foreign currency, money orders)
  [6540, 6540, 'cash'], // stored-value card loads
  [5200, 5999, 'shopping'], // retail (after the retail codes above)
  [7210, 7299, 'services'], // personal services: laundry, salons
  [7311, 7399, 'services'], // business services
  [7531, 7699, 'services'], // repair services
  [8111, 8999, 'services'], // professional services, education, memberships
]

const byCode = new Map<string, Category>()

/** The category of a merchant category code (4 digits). */
export function categoryOf(mcc: string): Category {
  const known = byCode.get(mcc)
  if (known) return known
  const code = Number(mcc)
  const found = mccRanges.find(([first, last]) => code >= first && code <= last)?.[2] ?? 'other'
  if (byCode.size < 10_000) byCode.set(mcc, found)
  return found
}
