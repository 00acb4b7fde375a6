import { type Domain, type DomainSetting } from '../../kernel/index.js'
import {
  anomalyCommands,
  anomalyProcessors,
  anomalyProjections,
  anomalyQueries,
  anomalySettings,
} from './anomaly/index.js'
import {
  analyticsReplica,
  analyticsSetting,
  analyticsSettingsFrom,
  type AnalyticsSettings,
} from './analytics/replica.js'
import { benchMix } from './bench.js'
import { defineCardCommands, type CardCommands } from './commands.js'
import { demoCallers, demoExamples, seedDemo } from './demo.js'
import { allEvents, MAX_AMOUNT, products } from './messages.js'
import type { CardPolicy } from './rules.js'
import { cardProjections, cardQueries } from './projections/index.js'
import { migrations } from './write-model.js'

/**
 * Card transactions: cards with a credit limit, real-time authorization (always a decision, recorded),
 * captures, reversals, adjustments, holds that expire by timer, monthly auto-payments.
 */
export function createCardsDomain(
  commands: CardCommands,
  analytics: AnalyticsSettings = { store: 'memory' },
  /** The policy `commands` were made with: the demo keeps its amounts within its limits. */
  policy: CardPolicy = defaultCardPolicy,
): Domain {
  return {
    name: 'cards',
    events: allEvents,
    commands: [...Object.values(commands), ...anomalyCommands],
    queries: [...cardQueries, ...anomalyQueries],
    projections: [...cardProjections, ...anomalyProjections],
    replicas: [analyticsReplica(analytics)],
    processors: anomalyProcessors,
    migrations,
    demoCallers,
    seedDemo: seedDemo(commands, policy),
    demoExamples: () => demoExamples(policy),
    benchMix: benchMix(commands),
  }
}

export const defaultCardPolicy: CardPolicy = {
  holdExpiryHours: 168,
  amountLimits: { classic: 2_000_000, gold: 10_000_000, platinum: 50_000_000 },
}

const maxHoldExpiryHours = 24 * 365

/** The settings the environment chooses; a bad value falls back here and is refused at start. */
export function cardPolicyFrom(env: NodeJS.ProcessEnv): CardPolicy {
  const whole = (name: string, fallback: number, max: number) => {
    const n = Number(env[name]?.trim() || NaN)
    return Number.isInteger(n) && n >= 1 && n <= max ? n : fallback
  }
  const limits = defaultCardPolicy.amountLimits
  return {
    holdExpiryHours: whole('CARDS_HOLD_EXPIRY_HOURS', defaultCardPolicy.holdExpiryHours, maxHoldExpiryHours),
    amountLimits: {
      classic: whole('CARDS_AMOUNT_LIMIT_CLASSIC', limits.classic, MAX_AMOUNT),
      gold: whole('CARDS_AMOUNT_LIMIT_GOLD', limits.gold, MAX_AMOUNT),
      platinum: whole('CARDS_AMOUNT_LIMIT_PLATINUM', limits.platinum, MAX_AMOUNT),
    },
  }
}

const settings: DomainSetting[] = [
  {
    name: 'CARDS_HOLD_EXPIRY_HOURS',
    text: 'Hours an authorization holds credit before its timer releases it, if not captured',
    default: String(defaultCardPolicy.holdExpiryHours),
    integer: { min: 1, max: maxHoldExpiryHours },
  },
  ...products.map((product) => ({
    name: `CARDS_AMOUNT_LIMIT_${product.toUpperCase()}`,
    text: `The largest single payment a ${product} card authorizes, in minor units (more: AMOUNT_LIMIT)`,
    default: String(defaultCardPolicy.amountLimits[product]),
    integer: { min: 1, max: MAX_AMOUNT },
  })),
  ...anomalySettings,
  analyticsSetting,
]

const policy = cardPolicyFrom(process.env)
export const cardsDomain: Domain = {
  ...createCardsDomain(defineCardCommands(policy), analyticsSettingsFrom(process.env), policy),
  settings,
}
