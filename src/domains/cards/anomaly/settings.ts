import type { DomainSetting } from '../../../kernel/index.js'
import { MAX_AMOUNT } from '../messages.js'

/** The anomaly rules, in the order they are checked (and alerts of one transaction are raised). */
export const ruleNames = ['velocity', 'amount', 'travel', 'card-testing', 'risky-mcc'] as const
export type RuleName = (typeof ruleNames)[number]

/** Each rule's thresholds; `on` says whether it runs at all. Amounts in minor units of the card's currency. */
export interface AnomalyPolicy {
  velocity: { on: boolean; count: number; windowSeconds: number }
  amount: { on: boolean; factor: number; minAmount: number; minHistory: number; lookbackDays: number }
  travel: { on: boolean; maxKmh: number; slackKm: number }
  cardTesting: { on: boolean; smallMax: number; count: number; largeMin: number; windowSeconds: number }
  riskyMcc: { on: boolean; mccs: readonly string[] }
}

/** `4829, 7995`: 4-digit codes, at least one. */
const mccListPattern = /^\s*[0-9]{4}\s*(,\s*[0-9]{4}\s*)*$/

/**
 * Merchant categories where stolen cards are cashed out: money transfer (4829), pawn shops (5933),
 * inbound teleservices (5967), quasi-cash and crypto (6051), stored-value loads (6540), dating and
 * escort services (7273), betting and casinos (7995).
 */
export const defaultRiskyMccs = ['4829', '5933', '5967', '6051', '6540', '7273', '7995'] as const

export const defaultAnomalyPolicy: AnomalyPolicy = {
  velocity: { on: true, count: 5, windowSeconds: 600 },
  amount: { on: true, factor: 5, minAmount: 50_000, minHistory: 5, lookbackDays: 90 },
  travel: { on: true, maxKmh: 900, slackKm: 500 },
  cardTesting: { on: true, smallMax: 1_000, count: 3, largeMin: 100_000, windowSeconds: 3600 },
  riskyMcc: { on: true, mccs: defaultRiskyMccs },
}

const d = defaultAnomalyPolicy
const day = 86_400
const onOff = (name: string, rule: string) => ({
  name,
  text: `Whether the ${rule} anomaly rule runs (on, off)`,
  default: 'on',
  values: ['on', 'off'],
})
const whole = (name: string, text: string, value: number, min: number, max: number) => ({
  name,
  text,
  default: String(value),
  integer: { min, max },
})

/** The settings of anomaly detection; the kernel refuses a bad value at start (the MCC list: see below). */
export const anomalySettings: DomainSetting[] = [
  onOff('CARDS_ANOMALY_VELOCITY', 'velocity'),
  whole(
    'CARDS_ANOMALY_VELOCITY_COUNT',
    'Attempts on one card within the window that make a burst',
    d.velocity.count,
    2,
    1000,
  ),
  whole('CARDS_ANOMALY_VELOCITY_WINDOW_SECONDS', 'The velocity window', d.velocity.windowSeconds, 1, day),
  onOff('CARDS_ANOMALY_AMOUNT', 'amount-above-baseline'),
  whole(
    'CARDS_ANOMALY_AMOUNT_FACTOR',
    "An amount above this many times the customer's median fires",
    d.amount.factor,
    2,
    1000,
  ),
  whole(
    'CARDS_ANOMALY_AMOUNT_MIN',
    'Amounts up to this never fire the amount rule (minor units)',
    d.amount.minAmount,
    0,
    MAX_AMOUNT,
  ),
  whole(
    'CARDS_ANOMALY_AMOUNT_MIN_HISTORY',
    'Approved payments the baseline needs before the rule speaks',
    d.amount.minHistory,
    1,
    100,
  ),
  whole(
    'CARDS_ANOMALY_AMOUNT_LOOKBACK_DAYS',
    'How far back the baseline looks',
    d.amount.lookbackDays,
    1,
    3650,
  ),
  onOff('CARDS_ANOMALY_TRAVEL', 'impossible-travel'),
  whole(
    'CARDS_ANOMALY_TRAVEL_MAX_KMH',
    'The fastest plausible travel between two payments (km/h)',
    d.travel.maxKmh,
    1,
    100_000,
  ),
  whole(
    'CARDS_ANOMALY_TRAVEL_SLACK_KM',
    'Km taken off the centroid distance (a country is not a point)',
    d.travel.slackKm,
    0,
    20_000,
  ),
  onOff('CARDS_ANOMALY_CARD_TESTING', 'card-testing'),
  {
    ...whole(
      'CARDS_ANOMALY_CARD_TESTING_SMALL_MAX',
      'A probe: an attempt of at most this amount',
      d.cardTesting.smallMax,
      1,
      MAX_AMOUNT,
    ),
    // An attempt both a probe and the large one after the probes would make any run of payments of
    // one size a card test.
    below: 'CARDS_ANOMALY_CARD_TESTING_LARGE_MIN',
  },
  whole(
    'CARDS_ANOMALY_CARD_TESTING_COUNT',
    'Probes in a row before a large attempt',
    d.cardTesting.count,
    1,
    100,
  ),
  whole(
    'CARDS_ANOMALY_CARD_TESTING_LARGE_MIN',
    'A large attempt: at least this amount',
    d.cardTesting.largeMin,
    1,
    MAX_AMOUNT,
  ),
  whole(
    'CARDS_ANOMALY_CARD_TESTING_WINDOW_SECONDS',
    'How far back the probes may be',
    d.cardTesting.windowSeconds,
    1,
    day,
  ),
  onOff('CARDS_ANOMALY_RISKY_MCC', 'risky-merchant-category'),
  {
    name: 'CARDS_ANOMALY_RISKY_MCCS',
    text: 'Risky merchant categories, comma-separated 4-digit MCCs',
    default: defaultRiskyMccs.join(','),
    pattern: { regex: mccListPattern, takes: '4-digit codes separated by commas' },
  },
]

/**
 * The policy the environment chooses. A value out of bounds or of the wrong form falls back here and
 * is refused at start by the kernel (`checkSettings`): loading the domain (every CLI command does)
 * never throws.
 */
export function anomalyPolicyFrom(env: NodeJS.ProcessEnv): AnomalyPolicy {
  const setting = (name: string) => anomalySettings.find((s) => s.name === name)
  const int = (name: string, fallback: number) => {
    const bounds = setting(name)?.integer
    const n = Number(env[name]?.trim() || NaN)
    return bounds && Number.isInteger(n) && n >= bounds.min && n <= bounds.max ? n : fallback
  }
  const on = (name: string) => env[name]?.trim() !== 'off'
  return {
    velocity: {
      on: on('CARDS_ANOMALY_VELOCITY'),
      count: int('CARDS_ANOMALY_VELOCITY_COUNT', d.velocity.count),
      windowSeconds: int('CARDS_ANOMALY_VELOCITY_WINDOW_SECONDS', d.velocity.windowSeconds),
    },
    amount: {
      on: on('CARDS_ANOMALY_AMOUNT'),
      factor: int('CARDS_ANOMALY_AMOUNT_FACTOR', d.amount.factor),
      minAmount: int('CARDS_ANOMALY_AMOUNT_MIN', d.amount.minAmount),
      minHistory: int('CARDS_ANOMALY_AMOUNT_MIN_HISTORY', d.amount.minHistory),
      lookbackDays: int('CARDS_ANOMALY_AMOUNT_LOOKBACK_DAYS', d.amount.lookbackDays),
    },
    travel: {
      on: on('CARDS_ANOMALY_TRAVEL'),
      maxKmh: int('CARDS_ANOMALY_TRAVEL_MAX_KMH', d.travel.maxKmh),
      slackKm: int('CARDS_ANOMALY_TRAVEL_SLACK_KM', d.travel.slackKm),
    },
    cardTesting: {
      on: on('CARDS_ANOMALY_CARD_TESTING'),
      smallMax: int('CARDS_ANOMALY_CARD_TESTING_SMALL_MAX', d.cardTesting.smallMax),
      count: int('CARDS_ANOMALY_CARD_TESTING_COUNT', d.cardTesting.count),
      largeMin: int('CARDS_ANOMALY_CARD_TESTING_LARGE_MIN', d.cardTesting.largeMin),
      windowSeconds: int('CARDS_ANOMALY_CARD_TESTING_WINDOW_SECONDS', d.cardTesting.windowSeconds),
    },
    riskyMcc: { on: on('CARDS_ANOMALY_RISKY_MCC'), mccs: mccList(env.CARDS_ANOMALY_RISKY_MCCS) },
  }
}

/** The codes of an MCC list; unset, blank or not a list of codes (refused at start) is the default list. */
export function mccList(text: string | undefined): readonly string[] {
  if (text === undefined || !mccListPattern.test(text)) return defaultRiskyMccs
  return [...new Set(text.split(',').map((code) => code.trim()))]
}
