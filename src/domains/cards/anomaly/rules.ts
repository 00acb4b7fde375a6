import { createHash } from 'node:crypto'
import { distanceKm, farthestKm, neighbours } from './countries.js'
import type { AnomalyPolicy, RuleName } from './settings.js'

/**
 * The anomaly rules: pure functions of the transaction that triggers them and the card's attempts
 * decided before it. Each gives a finding (rule, score, evidence) or nothing. Times are the network's
 * `occurredAt` (when the cardholder paid), so a payment that arrives late is placed where it happened:
 * the rules look at the attempts around the trigger in time, before and after it, and fire when the
 * trigger completes a pattern that the attempts decided before it did not already show (so a burst
 * raises one alert, whatever order its attempts arrive in).
 */

/** An attempt on the card: approved or declined (a declined one moved no money, but someone tried). */
export interface Attempt {
  transactionId: string
  amount: number
  approved: boolean
  mcc: string
  country: string
  occurredAt: string
  /**
   * When it was decided (the write model's `created_at`; a card's decisions are stamped in their
   * order): the order its detection ran in. Without it, time order is taken.
   */
  decidedAt?: string
}

/** What the rules know before the trigger, as history.ts reads it from the write model. */
export interface History {
  /**
   * The card's network attempts decided before the trigger that occurred within `historyWindowMs`
   * of it (before or after it), newest first.
   */
  card: readonly Attempt[]
  /** The customer's approved network payments in the trigger's currency within the lookback (the last 100). */
  baseline: { count: number; median: number | null }
}

export interface Evidence {
  /** One line an agent reads. */
  summary: string
  /** The transactions that make the evidence, oldest first (the trigger among them). */
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
const idsOf = (attempts: readonly Attempt[]) => attempts.map((a) => a.transactionId)

/**
 * The attempts in time order, oldest first: the history (read newest first) reversed, and with the
 * trigger, placed after those that occurred at or before it (it was decided after all of them).
 */
function timeline(card: readonly Attempt[], trigger?: Attempt): Attempt[] {
  const sorted = card.toReversed()
  if (!trigger) return sorted
  const at = ms(trigger.occurredAt)
  const after = sorted.findIndex((a) => ms(a.occurredAt) > at)
  sorted.splice(after === -1 ? sorted.length : after, 0, trigger)
  return sorted
}

/**
 * For each attempt of a timeline, the span of attempts in the window ending at it: those that
 * occurred less than `windowMs` before it or at the same moment (an attempt exactly `windowMs`
 * before is outside), as indexes `[from, to]`.
 */
function windowsOf(list: readonly Attempt[], windowMs: number): [number, number][] {
  const times = list.map((a) => ms(a.occurredAt))
  const spans: [number, number][] = []
  let from = 0
  let to = 0
  for (let i = 0; i < times.length; i++) {
    const end = times[i] ?? 0
    while ((times[from] ?? end) <= end - windowMs) from++
    to = Math.max(to, i)
    while (to + 1 < times.length && times[to + 1] === end) to++
    spans.push([from, to])
  }
  return spans
}

/**
 * Velocity: `count` attempts or more (declines too) within the window. An attempt whose window (the
 * one ending at it) holds `count` is dense; a run of dense attempts one after another is a burst, and
 * it fires once: on the attempt that makes a burst none of whose attempts was dense before it came.
 * In time order that is the attempt that reaches the count (a burst of twenty raises one alert, not
 * sixteen); an attempt that arrives late and lands inside a burst already raised raises nothing.
 */
export const velocity: Rule<'velocity'> = (trigger, { card }, s) => {
  const windowMs = s.windowSeconds * 1000
  const dense = (list: readonly Attempt[]) =>
    windowsOf(list, windowMs).map(([from, to]) => to - from + 1 >= s.count)
  const before = timeline(card)
  const denseBefore = dense(before)
  const wasDense = new Set(idsOf(before.filter((_, i) => denseBefore[i])))
  const list = timeline(card, trigger)
  const spans = windowsOf(list, windowMs)
  const isDense = spans.map(([from, to]) => to - from + 1 >= s.count)
  // Each new burst's first window; one trigger may join two (a late attempt between them).
  const windows: Attempt[][] = []
  for (let start = 0; start < list.length; start++) {
    if (!isDense[start] || isDense[start - 1]) continue
    let end = start
    while (isDense[end + 1]) end++
    if (list.slice(start, end + 1).some((a) => wasDense.has(a.transactionId))) continue
    const [from, to] = spans[start] ?? [start, start]
    windows.push(list.slice(from, to + 1))
  }
  const [window] = windows
  if (!window) return undefined
  const count = window.length
  const shown = new Set(windows.flat())
  return {
    rule: 'velocity',
    score: score(50 + (50 * (count - s.count)) / s.count),
    evidence: {
      summary: `${count} attempts on the card within ${s.windowSeconds} s (threshold ${s.count})${windows.length > 1 ? `, in ${windows.length} bursts` : ''}`,
      transactionIds: idsOf(list.filter((a) => shown.has(a))),
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
 * Impossible travel: between the trigger and the attempt before it in time, or after it, the card
 * moved to another country faster than `maxKmh` over the distance between the two countries' points
 * less `slackKm` (countries.ts). Declines count: they show where the card was presented. A trigger
 * that lands between two attempts (one reported late) in the country of either only re-tells their
 * jump: if that jump was impossible it was raised already, and the trigger raises nothing. Both of
 * its legs impossible (a third country between two) is one alert naming the three.
 */
export const travel: Rule<'travel'> = (trigger, { card }, s) => {
  const before = timeline(card)
  const at = ms(trigger.occurredAt)
  const k = before.findIndex((a) => ms(a.occurredAt) > at)
  const previous = k === -1 ? before.at(-1) : before[k - 1]
  const next = k === -1 ? undefined : before[k]
  const raised = previous && next ? journey(previous, next, s) !== undefined : false
  const into =
    previous && !(raised && trigger.country === next?.country) ? journey(previous, trigger, s) : undefined
  const onward =
    next && !(raised && trigger.country === previous?.country) ? journey(trigger, next, s) : undefined
  if (!into || !onward || !previous || !next) return into ?? onward
  return {
    rule: 'travel',
    score: Math.max(into.score, onward.score),
    evidence: {
      summary: `${into.evidence.summary}; then ${onward.evidence.summary}`,
      transactionIds: [previous.transactionId, trigger.transactionId, next.transactionId],
      figures: { ...into.evidence.figures, then: next.country, thenKmh: onward.evidence.figures.kmh ?? '' },
    },
  }
}

/** The travel finding on two attempts, `from` the earlier, or nothing if the journey is possible. */
function journey(from: Attempt, to: Attempt, s: AnomalyPolicy['travel']): Finding | undefined {
  if (from.country === to.country || neighbours(from.country, to.country)) return undefined
  const km = distanceKm(from.country, to.country)
  if (km === undefined) return undefined
  const effectiveKm = km - s.slackKm
  if (effectiveKm <= 0) return undefined
  const hours = (ms(to.occurredAt) - ms(from.occurredAt)) / 3_600_000
  const kmh = hours > 0 ? effectiveKm / hours : Infinity
  if (kmh <= s.maxKmh) return undefined
  const shownKmh = Number.isFinite(kmh) ? Math.round(kmh) : 'instant'
  return {
    rule: 'travel',
    score: score(Number.isFinite(kmh) ? (50 * kmh) / s.maxKmh : 100),
    evidence: {
      summary: `${from.country} to ${to.country} (${Math.round(km)} km) in ${hours.toFixed(2)} h: ${shownKmh} km/h (limit ${s.maxKmh})`,
      transactionIds: [from.transactionId, to.transactionId],
      figures: {
        from: from.country,
        to: to.country,
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
 * most `smallMax` each), all within the window before it; approved or declined, as a tester's probes
 * often are. The trigger completes it as the large attempt or as one of the probes (arriving late;
 * at one moment, probes come before the large one). Probes are raised once: the detections of the
 * attempts decided before the trigger are run again in their order (only when the trigger completes
 * a pattern), and a pattern sharing an attempt with one they raised is not raised again: not on a
 * second large attempt after the same probes, nor when a late attempt splits a run already raised.
 */
export const cardTesting: Rule<'cardTesting'> = (trigger, { card }, s) => {
  const sorted = [...card].sort((a, b) => testingOrder(a, b) || byDecision(a, b))
  const found = patternAt(inserted(sorted, trigger), trigger, s)
  if (!found) return undefined
  // Patterns that could share an attempt with this one lie within two windows of it: their
  // detections, run again in decision order on a list that grows as they were decided.
  const windowMs = s.windowSeconds * 1000
  const from = ms(found.probes[0]?.occurredAt ?? found.large.occurredAt) - 2 * windowMs
  const to = ms(found.large.occurredAt) + windowMs
  const near = card.filter((a) => ms(a.occurredAt) >= from && ms(a.occurredAt) <= to).sort(byDecision)
  const raised = new Set<string>()
  let decided: Attempt[] = []
  for (const attempt of near) {
    decided = inserted(decided, attempt)
    const earlier = patternAt(decided, attempt, s)
    if (!earlier) continue
    const ids = idsOf([...earlier.probes, earlier.large])
    if (!ids.some((id) => raised.has(id))) for (const id of ids) raised.add(id)
  }
  const { probes, large } = found
  if ([...probes, large].some((a) => raised.has(a.transactionId))) return undefined
  return {
    rule: 'card-testing',
    score: score(60 + (40 * (probes.length - s.count)) / s.count),
    evidence: {
      summary: `${probes.length} attempts of at most ${s.smallMax}, then ${large.amount} (threshold ${s.count} then ${s.largeMin})`,
      transactionIds: idsOf([...probes, large]),
      figures: {
        probes: probes.length,
        threshold: s.count,
        smallMax: s.smallMax,
        amount: large.amount,
        largeMin: s.largeMin,
      },
    },
  }
}

/** Decision order: `decidedAt`, else time order. */
const byDecision = (a: Attempt, b: Attempt) =>
  ms(a.decidedAt ?? a.occurredAt) - ms(b.decidedAt ?? b.occurredAt) || ms(a.occurredAt) - ms(b.occurredAt)

/** Card testing's time order: at one moment, smaller first (the probes before the large one). */
const testingOrder = (a: Attempt, b: Attempt) => ms(a.occurredAt) - ms(b.occurredAt) || a.amount - b.amount

/** `list` (in `testingOrder`) with `attempt` put in its place, after any it ties with: it came later. */
function inserted(list: Attempt[], attempt: Attempt): Attempt[] {
  let low = 0
  let high = list.length
  while (low < high) {
    const mid = (low + high) >> 1
    if (testingOrder(list[mid] as Attempt, attempt) <= 0) low = mid + 1
    else high = mid
  }
  list.splice(low, 0, attempt)
  return list
}

/** The card-testing pattern `trigger` completes in `list` (in `testingOrder`): its probes and large attempt. */
function patternAt(
  list: readonly Attempt[],
  trigger: Attempt,
  s: AnomalyPolicy['cardTesting'],
): { probes: Attempt[]; large: Attempt } | undefined {
  const small = (a: Attempt | undefined) => a !== undefined && a.amount <= s.smallMax
  let j = list.indexOf(trigger)
  while (small(list[j])) j++
  const large = list[j]
  if (!large || large.amount < s.largeMin) return undefined
  const end = ms(large.occurredAt)
  let k = j
  while (small(list[k - 1]) && end - ms(list[k - 1]?.occurredAt ?? '') < s.windowSeconds * 1000) k--
  const probes = list.slice(k, j)
  if (probes.length < s.count || (large !== trigger && !probes.includes(trigger))) return undefined
  return { probes, large }
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

/**
 * How far from the trigger, back and forward in time, the card's history must go for the enabled
 * rules (velocity looks at two windows: a burst may begin a window before the trigger's).
 */
export function historyWindowMs(p: AnomalyPolicy): number {
  const travelHours = Math.max(0, farthestKm - p.travel.slackKm) / p.travel.maxKmh
  return Math.max(
    p.velocity.on ? 2 * p.velocity.windowSeconds * 1000 : 0,
    p.cardTesting.on ? p.cardTesting.windowSeconds * 1000 : 0,
    p.travel.on ? Math.ceil(travelHours * 3_600_000) : 0,
  )
}

/**
 * How many of the card's attempts, each way from the trigger in time, the rules are given: enough to
 * see the trigger's velocity window and its neighbours' whole (each holds up to `count` attempts), a
 * run of probes twice the count, and the nearest attempt for travel; never more than 1,000. A card
 * tried hundreds of times a minute would otherwise have every detection read and sort thousands of
 * rows. The rules see a burst longer than this as a burst all the same: its attempts near the
 * trigger are dense, in the history as with the trigger.
 */
export function historyLimit(p: AnomalyPolicy): number {
  return Math.min(
    1000,
    Math.max(
      50,
      p.velocity.on ? 2 * p.velocity.count + 2 : 0,
      p.cardTesting.on ? 4 * p.cardTesting.count + 2 : 0,
    ),
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
