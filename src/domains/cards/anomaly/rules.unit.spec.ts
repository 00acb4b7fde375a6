import { describe, expect, it } from 'vitest'
import { borders, distanceKm, neighbours } from './countries.js'
import {
  alertIdOf,
  amount,
  cardTesting,
  detect,
  historyLimit,
  historyWindowMs,
  riskyMcc,
  travel,
  velocity,
  type Attempt,
  type Finding,
  type History,
} from './rules.js'
import {
  anomalySettings,
  anomalyPolicyFrom,
  defaultAnomalyPolicy as policy,
  defaultRiskyMccs,
  mccList,
} from './settings.js'

const t0 = Date.parse('2031-03-01T09:00:00.000Z')
const at = (seconds: number) => new Date(t0 + seconds * 1000).toISOString()
let n = 0
const id = () => `0190a0d0-0000-7000-8000-${String(++n).padStart(12, '0')}`
const attempt = (o: Partial<Attempt> & { s?: number } = {}): Attempt => ({
  transactionId: id(),
  amount: 10_000,
  approved: true,
  mcc: '5411',
  country: 'KR',
  occurredAt: at(o.s ?? 0),
  ...o,
})
/** The card's history, given oldest first (as it happened), held newest first (as history.ts reads it). */
const history = (card: Attempt[], baseline: History['baseline'] = { count: 0, median: null }): History => ({
  card: card.toReversed(),
  baseline,
})

describe('velocity (5 attempts within 600 s)', () => {
  const s = policy.velocity
  it('fires on the fifth attempt within the window, declines included, with the burst as evidence', () => {
    const before = [
      attempt({ s: 0 }),
      attempt({ s: 60, approved: false }),
      attempt({ s: 120 }),
      attempt({ s: 180 }),
    ]
    const trigger = attempt({ s: 599 })
    const finding = velocity(trigger, history(before), s)
    expect(finding).toMatchObject({ rule: 'velocity', score: 50 })
    expect(finding?.evidence.transactionIds).toEqual([...before, trigger].map((a) => a.transactionId))
    expect(finding?.evidence.figures).toEqual({ count: 5, threshold: 5, windowSeconds: 600 })
  })

  it('does not fire on the fourth, nor when the oldest is exactly one window before the trigger', () => {
    const four = [attempt({ s: 0 }), attempt({ s: 60 }), attempt({ s: 120 })]
    expect(velocity(attempt({ s: 180 }), history(four), s)).toBeUndefined()
    const edge = [attempt({ s: 0 }), attempt({ s: 60 }), attempt({ s: 120 }), attempt({ s: 180 })]
    expect(velocity(attempt({ s: 600 }), history(edge), s)).toBeUndefined()
  })

  it('fires once per burst: the sixth attempt, whose previous window had five already, does not', () => {
    const five = [0, 10, 20, 30, 40].map((s) => attempt({ s }))
    expect(velocity(attempt({ s: 50 }), history(five), s)).toBeUndefined()
  })
})

describe("amount far above the customer's baseline (5× the median of 5+ payments, above 50,000)", () => {
  const s = policy.amount
  const baseline = { count: 8, median: 20_000 }
  it('fires past five times the median, with the figures', () => {
    const trigger = attempt({ amount: 100_001 })
    const finding = amount(trigger, history([], baseline), s)
    expect(finding).toMatchObject({ rule: 'amount', score: 50 })
    expect(finding?.evidence).toMatchObject({
      transactionIds: [trigger.transactionId],
      figures: { amount: 100_001, median: 20_000, ratio: 5, factor: 5, history: 8 },
    })
  })

  it('does not fire at exactly five times, with too little history, at the floor, or for a decline', () => {
    expect(amount(attempt({ amount: 100_000 }), history([], baseline), s)).toBeUndefined()
    expect(amount(attempt({ amount: 900_000 }), history([], { count: 4, median: 20_000 }), s)).toBeUndefined()
    expect(amount(attempt({ amount: 50_000 }), history([], { count: 8, median: 1_000 }), s)).toBeUndefined()
    expect(amount(attempt({ amount: 50_001 }), history([], { count: 8, median: 1_000 }), s)).toBeDefined()
    expect(amount(attempt({ amount: 900_000, approved: false }), history([], baseline), s)).toBeUndefined()
  })
})

describe('impossible travel (over 900 km/h, less 500 km of slack)', () => {
  const s = policy.travel
  const km = distanceKm('KR', 'FR') ?? 0
  /** The seconds it takes to cover KR→FR less the slack at exactly 900 km/h. */
  const edge = Math.round((((km - 500) / 900) * 3600) / 1) // whole seconds
  it('fires from Korea to France within an hour, with both transactions and the speed', () => {
    const seoul = attempt({ s: 0, country: 'KR' })
    const paris = attempt({ s: 3600, country: 'FR' })
    const finding = travel(paris, history([seoul]), s)
    expect(finding?.rule).toBe('travel')
    expect(finding?.evidence.transactionIds).toEqual([seoul.transactionId, paris.transactionId])
    expect(finding?.evidence.figures).toMatchObject({
      from: 'KR',
      to: 'FR',
      distanceKm: Math.round(km),
      hours: 1,
    })
    expect(finding?.evidence.figures.kmh).toBe(Math.round(km - 500))
  })

  it('does not fire at or under the speed limit, in one country, between neighbours, or for an unknown one', () => {
    expect(
      travel(attempt({ s: edge + 1, country: 'FR' }), history([attempt({ country: 'KR' })]), s),
    ).toBeUndefined()
    expect(
      travel(attempt({ s: edge - 60, country: 'FR' }), history([attempt({ country: 'KR' })]), s),
    ).toBeDefined()
    expect(
      travel(attempt({ s: 60, country: 'KR' }), history([attempt({ country: 'KR' })]), s),
    ).toBeUndefined()
    // France and Belgium's points are ~480 km apart: within the slack, even at once.
    expect(travel(attempt({ s: 0, country: 'BE' }), history([attempt({ country: 'FR' })]), s)).toBeUndefined()
    // France and Germany's are ~780 km apart, but Strasbourg and Kehl share a bridge: never, either way.
    expect(
      travel(attempt({ s: 60, country: 'DE' }), history([attempt({ country: 'FR' })]), s),
    ).toBeUndefined()
    expect(
      travel(attempt({ s: 60, country: 'FR' }), history([attempt({ country: 'DE' })]), s),
    ).toBeUndefined()
    // Spain and Germany share none: ~1,630 km less the slack in a minute still fires.
    expect(travel(attempt({ s: 60, country: 'DE' }), history([attempt({ country: 'ES' })]), s)).toBeDefined()
    expect(
      travel(attempt({ s: 60, country: 'ZZ' }), history([attempt({ country: 'KR' })]), s),
    ).toBeUndefined()
  })

  it('knows each border once, in order, between countries it has points for', () => {
    expect(new Set(borders).size).toBe(borders.length)
    for (const pair of borders) {
      const [a = '', b = ''] = pair.split('-')
      expect(a < b, pair).toBe(true)
      expect(distanceKm(a, b), pair).toBeDefined()
      expect(neighbours(b, a), pair).toBe(true)
    }
    expect(neighbours('KR', 'JP')).toBe(false)
  })

  it('fires at once for two far countries at the same moment', () => {
    const finding = travel(attempt({ s: 0, country: 'US' }), history([attempt({ s: 0, country: 'KR' })]), s)
    expect(finding).toMatchObject({ score: 100, evidence: { figures: { kmh: 'instant' } } })
  })
})

describe('card testing (3 attempts of at most 1,000, then 100,000 or more, within an hour)', () => {
  const s = policy.cardTesting
  it('fires on the large attempt after three probes (declined ones too), with them as evidence', () => {
    const probes = [
      attempt({ s: 0, amount: 100, approved: false }),
      attempt({ s: 30, amount: 1_000 }),
      attempt({ s: 60, amount: 500 }),
    ]
    const large = attempt({ s: 90, amount: 100_000 })
    const finding = cardTesting(large, history([attempt({ s: -30, amount: 50_000 }), ...probes]), s)
    expect(finding).toMatchObject({ rule: 'card-testing', score: 60 })
    expect(finding?.evidence.transactionIds).toEqual([...probes, large].map((a) => a.transactionId))
    expect(finding?.evidence.figures).toMatchObject({ probes: 3, amount: 100_000 })
  })

  it('does not fire below the large amount, after two probes, over a probe of 1,001, or past the window', () => {
    const probes = () => [
      attempt({ s: 0, amount: 100 }),
      attempt({ s: 30, amount: 100 }),
      attempt({ s: 60, amount: 100 }),
    ]
    expect(cardTesting(attempt({ s: 90, amount: 99_999 }), history(probes()), s)).toBeUndefined()
    expect(cardTesting(attempt({ s: 90, amount: 100_000 }), history(probes().slice(1)), s)).toBeUndefined()
    const broken = [...probes().slice(0, 2), attempt({ s: 60, amount: 1_001 })]
    expect(cardTesting(attempt({ s: 90, amount: 100_000 }), history(broken), s)).toBeUndefined()
    expect(cardTesting(attempt({ s: 3600, amount: 100_000 }), history(probes()), s)).toBeUndefined()
  })

  it('does not fire again on a second large attempt after the same probes', () => {
    const probes = [0, 30, 60].map((s) => attempt({ s, amount: 100 }))
    expect(
      cardTesting(
        attempt({ s: 120, amount: 200_000 }),
        history([...probes, attempt({ s: 90, amount: 150_000 })]),
        s,
      ),
    ).toBeUndefined()
  })
})

/**
 * The attempts decided one after another in `order` (indexes into `attempts`, which are in time
 * order): each rule run on each as its trigger, with what was decided before it as its history, as
 * history.ts reads it (newest first in time). The findings, in the order they were raised.
 */
function arriving<S>(
  rule: (trigger: Attempt, history: History, settings: S) => Finding | undefined,
  attempts: Attempt[],
  order: number[],
  settings: S,
): Finding[] {
  const findings: Finding[] = []
  const decided: Attempt[] = []
  for (const [n, i] of order.entries()) {
    const trigger = {
      ...(attempts[i] as Attempt),
      decidedAt: new Date(t0 + 86_400_000 + n * 1000).toISOString(),
    }
    const known = decided.toSorted((a, b) => Date.parse(a.occurredAt) - Date.parse(b.occurredAt))
    const finding = rule(trigger, history(known), settings)
    if (finding) findings.push(finding)
    decided.push(trigger)
  }
  return findings
}

/** A seeded shuffle of 0..n-1 (xorshift), so a failing order can be run again. */
function shuffled(n: number, seed: number): number[] {
  let x = seed || 1
  const next = () => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), (x >>> 0) / 2 ** 32)
  const order = Array.from({ length: n }, (_, i) => i)
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1))
    ;[order[i], order[j]] = [order[j] as number, order[i] as number]
  }
  return order
}

describe('attempts that arrive out of time order (occurredAt is the network’s)', () => {
  const idsOf = (attempts: Attempt[]) => attempts.map((a) => a.transactionId)
  const range = (n: number) => Array.from({ length: n }, (_, i) => i)
  it('velocity: a late attempt inside a burst already raised raises nothing', () => {
    const burst = [-500, -400, -300, -200, -100].map((s) => attempt({ s }))
    const late = attempt({ s: -150 })
    const all = [...burst.slice(0, 4), late, burst[4] as Attempt]
    const found = arriving(velocity, all, [0, 1, 2, 3, 5, 4], policy.velocity)
    expect(found).toHaveLength(1)
    expect(found[0]?.evidence.transactionIds).toEqual(burst.map((a) => a.transactionId))
  })

  it('velocity: twenty attempts within 95 s raise one alert in any order (newest first too)', () => {
    const burst = range(20).map((i) => attempt({ s: i * 5 }))
    const orders = [range(20), range(20).toReversed(), ...range(30).map((k) => shuffled(20, k + 1))]
    for (const order of orders) {
      const found = arriving(velocity, burst, order, policy.velocity)
      expect(found, `order ${order.join(',')}`).toHaveLength(1)
      // Raised by the fifth attempt decided, whatever its place in time; the evidence holds it.
      const fifth = burst[order[4] as number]?.transactionId
      expect(found[0]?.evidence.transactionIds).toContain(fifth)
    }
  })

  it('velocity: two bursts an hour apart raise two alerts in any order', () => {
    const bursts = [
      ...range(6).map((i) => attempt({ s: i * 10 })),
      ...range(6).map((i) => attempt({ s: 3600 + i * 10 })),
    ]
    for (const seed of range(20)) {
      expect(arriving(velocity, bursts, shuffled(12, seed + 7), policy.velocity)).toHaveLength(2)
    }
  })

  it('travel: the attempt after the trigger in time counts too', () => {
    const paris = attempt({ s: -10, country: 'FR' })
    const seoul = attempt({ s: -60, country: 'KR' })
    const found = arriving(travel, [seoul, paris], [1, 0], policy.travel)
    expect(found).toHaveLength(1)
    expect(found[0]?.evidence.transactionIds).toEqual([seoul.transactionId, paris.transactionId])
    expect(found[0]?.evidence.figures).toMatchObject({ from: 'KR', to: 'FR' })
  })

  it('card testing: raised once in any order, by the large attempt or by the probe that completes the run', () => {
    const probes = [-40, -30, -20].map((s) => attempt({ s, amount: 100 }))
    const large = attempt({ s: -10, amount: 500_000 })
    const all = [...probes, large]
    for (const order of [range(4), range(4).toReversed(), ...range(24).map((k) => shuffled(4, k + 3))]) {
      const found = arriving(cardTesting, all, order, policy.cardTesting)
      expect(found, `order ${order.join(',')}`).toHaveLength(1)
      expect(found[0]?.evidence.transactionIds).toEqual(all.map((a) => a.transactionId))
    }
  })

  it('travel: a journey is raised once, however many late payments land on its side of it', () => {
    const fr = attempt({ s: 7200, country: 'FR' })
    const kr = [0, 600, 1200, 1800, 2400].map((s) => attempt({ s, country: 'KR' }))
    expect(arriving(travel, [...kr, fr], [5, 0, 1, 2, 3, 4], policy.travel)).toHaveLength(1)
    const [fr0, fr1800, jp] = [
      attempt({ s: 0, country: 'FR' }),
      attempt({ s: 1800, country: 'FR' }),
      attempt({ s: 3600, country: 'JP' }),
    ]
    expect(arriving(travel, [fr0, fr1800, jp], [2, 0, 1], policy.travel)).toHaveLength(1)
  })

  it('travel: a trip out and back reported last raises one alert naming the three payments', () => {
    const out = attempt({ s: 0, country: 'FR' })
    const tokyo = attempt({ s: 3600, country: 'JP' })
    const back = attempt({ s: 7200, country: 'FR' })
    const found = arriving(travel, [out, tokyo, back], [0, 2, 1], policy.travel)
    expect(found.map((f) => f.evidence.transactionIds)).toEqual([idsOf([out, tokyo, back])])
  })

  it('card testing: a run split by a late attempt is not raised again on the probes it shares', () => {
    const [p1, m, p2, p3, p4] = [
      attempt({ s: 0, amount: 500 }),
      attempt({ s: 90, amount: 50_000 }),
      attempt({ s: 100, amount: 500 }),
      attempt({ s: 120, amount: 500 }),
      attempt({ s: 150, amount: 500 }),
    ]
    const large = attempt({ s: 180, amount: 200_000 })
    const all = [p1, m, p2, p3, p4, large] as Attempt[]
    expect(arriving(cardTesting, all, [0, 2, 3, 5, 1, 4], policy.cardTesting)).toHaveLength(1)
  })

  it('card testing: never raises two alerts that share an attempt, in any order', () => {
    const times = [0, 60, 120, 150, 180, 240, 300, 360]
    const amounts = [500, 500, 500, 200_000, 500, 500, 500, 300_000]
    const all = times.map((s, i) => attempt({ s, amount: amounts[i] ?? 0 }))
    for (const seed of range(40)) {
      const found = arriving(cardTesting, all, shuffled(8, seed + 11), policy.cardTesting)
      const ids = found.flatMap((f) => f.evidence.transactionIds)
      expect(new Set(ids).size).toBe(ids.length)
      expect(found.length).toBeGreaterThanOrEqual(1)
    }
  })

  it('card testing: a probe at the same moment as the large attempt, decided after it, completes the run', () => {
    const all = [
      attempt({ s: 0, amount: 500 }),
      attempt({ s: 60, amount: 500 }),
      attempt({ s: 120, amount: 200_000 }),
      attempt({ s: 120, amount: 500 }),
    ]
    expect(arriving(cardTesting, all, [0, 1, 2, 3], policy.cardTesting)).toHaveLength(1)
  })

  it('velocity: an attempt that completes two bursts at once raises one alert naming both', () => {
    const before = [-550, -500, -450, -400].map((s) => attempt({ s }))
    const between = attempt({ s: 0 })
    const after = [200, 300, 400, 500].map((s) => attempt({ s }))
    const all = [...before, between, ...after]
    const found = arriving(velocity, all, [0, 1, 2, 3, 5, 6, 7, 8, 4], policy.velocity)
    expect(found).toHaveLength(1)
    expect(found[0]?.evidence.transactionIds).toEqual(idsOf(all))
  })

  it('card testing: a second large attempt that lands between the probes and the first one raises nothing', () => {
    const probes = [-600, -590, -580].map((s) => attempt({ s, amount: 100 }))
    const first = attempt({ s: -60, amount: 200_000 })
    const second = attempt({ s: -300, amount: 300_000 })
    const all = [...probes, second, first]
    expect(arriving(cardTesting, all, [0, 1, 2, 4, 3], policy.cardTesting)).toHaveLength(1)
  })
})

describe('risky merchant categories', () => {
  const s = policy.riskyMcc
  it('fires on an approved payment at a listed category, not at another, nor for a decline', () => {
    const casino = attempt({ mcc: '7995', amount: 30_000 })
    expect(riskyMcc(casino, history([]), s)).toMatchObject({
      rule: 'risky-mcc',
      score: 40,
      evidence: { transactionIds: [casino.transactionId], figures: { mcc: '7995', amount: 30_000 } },
    })
    expect(riskyMcc(attempt({ mcc: '5411' }), history([]), s)).toBeUndefined()
    expect(riskyMcc(attempt({ mcc: '7995', approved: false }), history([]), s)).toBeUndefined()
  })
})

describe('detection as configured', () => {
  it('runs only the enabled rules, in order', () => {
    const seoul = attempt({ s: 0, country: 'KR' })
    const casino = attempt({ s: 60, country: 'US', mcc: '7995' })
    expect(detect(casino, history([seoul]), policy).map((f) => f.rule)).toEqual(['travel', 'risky-mcc'])
    const off = anomalyPolicyFrom({ CARDS_ANOMALY_TRAVEL: 'off' })
    expect(detect(casino, history([seoul]), off).map((f) => f.rule)).toEqual(['risky-mcc'])
  })

  it('reads thresholds from the environment; values the kernel refuses at start fall back', () => {
    const p = anomalyPolicyFrom({
      CARDS_ANOMALY_VELOCITY_COUNT: '8',
      CARDS_ANOMALY_AMOUNT_FACTOR: '1',
      CARDS_ANOMALY_RISKY_MCCS: ' 7995,6051 ',
    })
    expect(p.velocity.count).toBe(8)
    expect(p.amount.factor).toBe(5)
    expect(p.riskyMcc.mccs).toEqual(['7995', '6051'])
    expect(mccList('')).toEqual(defaultRiskyMccs)
    // Loading the domain never throws (every CLI command loads it); starting a server refuses the value.
    expect(mccList('7995,casino')).toEqual(defaultRiskyMccs)
    const setting = anomalySettings.find((s) => s.name === 'CARDS_ANOMALY_RISKY_MCCS')
    expect(setting?.pattern?.regex.test('7995,casino')).toBe(false)
    expect(setting?.pattern?.regex.test(' 7995, 6051 ')).toBe(true)
  })

  it('reads the card back as far as the widest rule needs: the travel horizon by default', () => {
    expect(historyWindowMs(policy)).toBeGreaterThan(20 * 3_600_000)
    const noTravel = anomalyPolicyFrom({ CARDS_ANOMALY_TRAVEL: 'off' })
    expect(historyWindowMs(noTravel)).toBe(3_600_000)
  })

  it('reads as many attempts each way as the counts need: 50 at least, 1,000 at most', () => {
    expect(historyLimit(policy)).toBe(50)
    expect(historyLimit(anomalyPolicyFrom({ CARDS_ANOMALY_VELOCITY_COUNT: '100' }))).toBe(202)
    expect(historyLimit(anomalyPolicyFrom({ CARDS_ANOMALY_CARD_TESTING_COUNT: '40' }))).toBe(162)
    expect(historyLimit(anomalyPolicyFrom({ CARDS_ANOMALY_VELOCITY_COUNT: '1000' }))).toBe(1000)
    const countsOff = { CARDS_ANOMALY_VELOCITY: 'off', CARDS_ANOMALY_CARD_TESTING: 'off' }
    expect(historyLimit(anomalyPolicyFrom({ ...countsOff, CARDS_ANOMALY_VELOCITY_COUNT: '1000' }))).toBe(50)
  })

  it('names an alert by its rule and transaction: the same evidence, the same id', () => {
    const tx = '0190a0d0-0000-7000-8000-000000000001'
    expect(alertIdOf('velocity', tx)).toBe(alertIdOf('velocity', tx))
    expect(alertIdOf('velocity', tx)).not.toBe(alertIdOf('travel', tx))
    expect(alertIdOf('velocity', tx)).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    )
  })
})
