import type { Caller, Domain } from '../../../../kernel/index.js'
import type { TestTandem } from '../../../../kernel/testing.js'
import { cardsTestDomain, commands } from '../../testing/cards.js'
import { getAnomalyAlerts, type Alert } from '../alerts.js'
import { defineAnomalyDetection } from '../index.js'
import { defaultAnomalyPolicy } from '../settings.js'

/** Anomaly detection at its default thresholds, whatever the environment says. */
export const detection = defineAnomalyDetection(defaultAnomalyPolicy)

/** The cards domain with that detection: the specs' domain. */
export const anomalyTestDomain: Domain = {
  ...cardsTestDomain,
  commands: [...Object.values(commands), ...detection.commands],
  processors: detection.processors,
}

/** Waits until `done` holds, checking every 10 ms (a processor works on its own time). */
export async function until(done: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error('timed out waiting')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** Waits until the processors have handled everything and the read models have applied it. */
export async function settled(t: Pick<TestTandem, 'processors' | 'projections'>): Promise<void> {
  await until(async () => (await t.processors.status()).every((p) => p.behind === 0))
  await t.projections.caughtUp(15_000)
}

/** A page of get-anomaly-alerts, or the refusal's `<status> <code>`. */
export async function alertsOf(
  t: Pick<TestTandem, 'queries'>,
  input: Record<string, unknown>,
  caller: Caller,
): Promise<{ items: Alert[]; nextCursor: string | null } | string> {
  const answer = await t.queries.ask(getAnomalyAlerts, input, { caller })
  if (answer.status === 'failed') return `${answer.error.status} ${answer.error.code}`
  return answer.data
}

/** `occurredAt` of a payment `minutes` ago (and `seconds` more). */
export const ago = (minutes: number, seconds = 0) =>
  new Date(Date.now() - minutes * 60_000 - seconds * 1000).toISOString()
