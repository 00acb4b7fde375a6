import { createHash } from 'node:crypto'
import { distanceKm, farthestKm } from './countries.js'
import type { AnomalyPolicy, RuleName } from './settings.js'

/**
 * The anomaly rules: pure functions of the transaction that triggers them and the history before it.
 * Each gives a finding (rule, score, evidence) or nothing. Times are the network's `occurredAt`
 * (when the cardholder paid), so a payment that arrives late is placed where it happened.
 */

/** An attempt on the card: approved or declined (a declined one moved no money, but someone tried). */
export interface Attempt {
  transactionId: string
  amount: number
  approved: boolean
  mcc: string
  country: string
  occurredAt: string
}

/** What the rules know before the trigger, as history.ts reads it from the write model. */
export interface History {
  /**
   * The card's network attempts decided before the trigger that occurred no later than it, newest
   * first, as far back as `historyWindowMs` says.
   */
  card: readonly Attempt[]
  /** The customer's approved network payments in the trigger's currency within the lookback (the last 100). */
  baseline: { count: number; median: number | null }
}

export interface Evidence {
  /** One line an agent reads. */
  summary: string
  /** The transactions that make the evidence, oldest first; the trigger is the last. */
  transactionIds: string[]
  /** The figures the rule compared with its thresholds. */
  figures: Record<string, number | string>
}

export interface Finding {
  rule: RuleName
  /** 1–100: how far past its threshold the rule is (for triage; no probability). */
  score: number
  evidence: Evidence
}

type Rule<K extends keyof AnomalyPolicy> = (
  trigger: Attempt,
  history: History,
  settings: AnomalyPolicy[K],
) => Finding | undefined

const ms = (time: string) => Date.parse(time)
const score = (value: number) => Math.max(1, Math.min(100, Math.round(value)))
const ids = (older: readonly Attempt[], trigger: Attempt) => [
  ...older.map((a) => a.transactionId).reverse(),
  trigger.transactionId,
]

/** Attempts in the `windowMs` ending at `end` (an attempt exactly `windowMs` before is outside). */
const within = (attempts: readonly Attempt[], end: number, windowMs: number) =>
  attempts.filter((a) => end - ms(a.occurredAt) < windowMs && ms(a.occurredAt) <= end)

/**
 * Velocity: `count` attempts or more (the trigger included, declines too) within the window. It
 * fires once per burst: when the window ending at the trigger reaches the count and the window
 * ending at the attempt before it had not, so a burst of twenty raises one alert, not sixteen.
 */
export const velocity: Rule<'velocity'> = (trigger, { card }, s) => {
  const windowMs = s.windowSeconds * 1000
  const burst = within(card, ms(trigger.occurredAt), windowMs)
  const count = burst.length + 1
  if (count < s.count) return undefined
  const [previous] = card
  if (previous && within(card, ms(previous.occurredAt), windowMs).length >= s.count) return undefined
  return {
    rule: 'velocity',
    score: score(50 + (50 * (count - s.count)) / s.count),
    evidence: {
      summary: `${count} attempts on the card within ${s.windowSeconds} s (threshold ${s.count})`,
      transactionIds: ids(burst, trigger),
      figures: { count, threshold: s.count, windowSeconds: s.windowSeconds },
    },
  }
}

/**
 * Amount far above the customer's own baseline: an approved payment above `factor` times the median
 * of their approved payments (same currency, the lookback), once there are `minHistory` of them, and
 * above `minAmount` (five coffees do not make a baseline that a lunch should break).
 */
export const amount: Rule<'amount'> = (trigger, { baseline }, s) => {
  const { count, median } = baseline
  if (!trigger.approved || trigger.amount <= s.minAmount || count < s.minHistory || !median) return undefined
  const ratio = trigger.amount / median
  if (ratio <= s.factor) return undefined
  return {
    rule: 'amount',
    score: score((50 * ratio) / s.factor),
    evidence: {
      summary: `${trigger.amount} is ${ratio.toFixed(1)} times the customer's median of ${median} over ${count} payments (threshold ${s.factor}×)`,
      transactionIds: [trigger.transactionId],
      figures: {
        amount: trigger.amount,
        median,
        ratio: Number(ratio.toFixed(2)),
        factor: s.factor,
        history: count,
      },
    },
  }
}

/**
 * Impossible travel: the attempt before this one was in another country, and getting from there in
 * the time between would take more than `maxKmh` over the distance between the two countries'
 * points less `slackKm` (countries.ts). Declines count: they show where the card was presented.
 */
export const travel: Rule<'travel'> = (trigger, { card }, s) => {
  const [previous] = card
  if (!previous || previous.country === trigger.country) return undefined
  const km = distanceKm(previous.country, trigger.country)
  if (km === undefined) return undefined
  const effectiveKm = km - s.slackKm
  if (effectiveKm <= 0) return undefined
  const hours = (ms(trigger.occurredAt) - ms(previous.occurredAt)) / 3_600_000
  const kmh = hours > 0 ? effectiveKm / hours : Infinity
  if (kmh <= s.maxKmh) return undefined
  const shownKmh = Number.isFinite(kmh) ? Math.round(kmh) : 'instant'
  return {
    rule: 'travel',
    score: score(Number.isFinite(kmh) ? (50 * kmh) / s.maxKmh : 100),
    evidence: {
      summary: `${previous.country} to ${trigger.country} (${Math.round(km)} km) in ${hours.toFixed(2)} h: ${shownKmh} km/h (limit ${s.maxKmh})`,
      transactionIds: [previous.transactionId, trigger.transactionId],
      figures: {
        from: previous.country,
        to: trigger.country,
        distanceKm: Math.round(km),
        hours: Number(hours.toFixed(3)),
        kmh: shownKmh,
        maxKmh: s.maxKmh,
        slackKm: s.slackKm,
      },
    },
  }
}

/**
 * Card testing: a large attempt (`largeMin` or more) right after `count` small ones in a row (at
 * most `smallMax` each), all within the window; approved or declined, as a tester's probes often
 * are. Only the run just before the large one counts, so a second large attempt after it does not
 * fire again on the same probes.
 */
export const cardTesting: Rule<'cardTesting'> = (trigger, { card }, s) => {
  if (trigger.amount < s.largeMin) return undefined
  const recent = within(card, ms(trigger.occurredAt), s.windowSeconds * 1000)
  const end = recent.findIndex((a) => a.amount > s.smallMax)
  const probes = end === -1 ? recent : recent.slice(0, end)
  if (probes.length < s.count) return undefined
  return {
    rule: 'card-testing',
    score: score(60 + (40 * (probes.length - s.count)) / s.count),
    evidence: {
      summary: `${probes.length} attempts of at most ${s.smallMax}, then ${trigger.amount} (threshold ${s.count} then ${s.largeMin})`,
      transactionIds: ids(probes, trigger),
      figures: {
        probes: probes.length,
        threshold: s.count,
        smallMax: s.smallMax,
        amount: trigger.amount,
        largeMin: s.largeMin,
      },
    },
  }
}

/** A risky merchant category: an approved payment at one of the listed MCCs. */
export const riskyMcc: Rule<'riskyMcc'> = (trigger, _history, s) => {
  if (!trigger.approved || !s.mccs.includes(trigger.mcc)) return undefined
  return {
    rule: 'risky-mcc',
    score: 40,
    evidence: {
      summary: `A payment of ${trigger.amount} at a merchant of category ${trigger.mcc}`,
      transactionIds: [trigger.transactionId],
      figures: { mcc: trigger.mcc, amount: trigger.amount },
    },
  }
}

/** Every enabled rule's finding on the trigger, in the rules' order. */
export function detect(trigger: Attempt, history: History, policy: AnomalyPolicy): Finding[] {
  const findings = [
    policy.velocity.on && velocity(trigger, history, policy.velocity),
    policy.amount.on && amount(trigger, history, policy.amount),
    policy.travel.on && travel(trigger, history, policy.travel),
    policy.cardTesting.on && cardTesting(trigger, history, policy.cardTesting),
    policy.riskyMcc.on && riskyMcc(trigger, history, policy.riskyMcc),
  ]
  return findings.filter((f): f is Finding => f !== undefined && f !== false)
}

/** Whether any rule runs (none: the processor has nothing to ask). */
export const anyRuleOn = (p: AnomalyPolicy) =>
  p.velocity.on || p.amount.on || p.travel.on || p.cardTesting.on || p.riskyMcc.on

/** How far back the card's history must go for the enabled rules (velocity looks at two windows). */
export function historyWindowMs(p: AnomalyPolicy): number {
  const travelHours = Math.max(0, farthestKm - p.travel.slackKm) / p.travel.maxKmh
  return Math.max(
    p.velocity.on ? 2 * p.velocity.windowSeconds * 1000 : 0,
    p.cardTesting.on ? p.cardTesting.windowSeconds * 1000 : 0,
    p.travel.on ? Math.ceil(travelHours * 3_600_000) : 0,
  )
}

const namespace = 'tandem/cards/anomaly-alert'

/**
 * The alert's id, from the rule and the transaction that triggered it (a name-based UUID, version 5
 * layout over SHA-256): the same evidence names the same alert, whoever raises it and how often.
 */
export function alertIdOf(rule: RuleName, transactionId: string): string {
  const hex = createHash('sha256').update(`${namespace}\u0000${rule}\u0000${transactionId}`).digest('hex')
  const variant = ((parseInt(hex.slice(16, 17), 16) & 0x3) | 0x8).toString(16)
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`
}
