import type { TargetCheck } from './results.js'

/**
 * The bare-Fastify ceiling, in req/s, of the reference machine every target is stated for. A run
 * measures its own ceiling (BenchContext.ceiling) and scales each target by it, so a target judges the
 * code, not the machine: on a machine three times slower every figure is about three times worse,
 * and so is what it must reach.
 */
export const referenceCeiling = 50_000

/**
 * A target as a scenario states it, beside the figure it judges:
 * `{ name: 'throughput', reference: 3000, unit: 'commands/s', better: 'higher', actual: 3412 }`.
 */
export interface Target {
  name: string
  /** What the figure must reach on the reference machine (ceiling `referenceCeiling`). */
  reference: number
  unit: string
  /**
   * `higher` (a throughput) scales with the ceiling: reference × ceiling / 50,000. `lower` (a
   * latency) scales against it: reference × 50,000 / ceiling.
   */
  better: 'higher' | 'lower'
  /** The figure measured, in `unit`. */
  actual: number
  /** A ratio of two figures measured in the same run: the machine cancels out, so it is not scaled. */
  relative?: boolean
  /**
   * A bound stated as is, whatever the machine (a wall-clock limit an issue sets, a share of cache
   * lookups): not scaled either.
   */
  absolute?: boolean
  /** Said after the figure: where it came from, what it sits beside. */
  detail?: string
  /** Fails the target whatever the figure, for this reason (e.g. the load it measures saw errors). */
  failedBy?: string
  /** false: recorded, not judged (the target is set for the other mode). */
  applies?: boolean
}

/** What a target asks of a machine with this ceiling, to three significant digits. */
export function required(
  target: Pick<Target, 'reference' | 'better' | 'relative' | 'absolute'>,
  ceiling: number,
): number {
  if (target.relative || target.absolute) return target.reference
  const speed = ceiling / referenceCeiling
  return significant(target.better === 'higher' ? target.reference * speed : target.reference / speed)
}

/** Judges a target against the ceiling measured in the same run. */
export function judge(target: Target, ceiling: number): TargetCheck {
  const need = required(target, ceiling)
  const sign = target.better === 'higher' ? '>=' : '<'
  const met = target.better === 'higher' ? target.actual >= need : target.actual < need
  const amount = (n: number) => `${n.toLocaleString('en-US')}${target.unit === '%' ? '%' : ` ${target.unit}`}`
  const notes = [target.detail, target.failedBy].filter((n) => n !== undefined)
  return {
    name: target.name,
    target: `${sign} ${amount(need)}`,
    actual: `${amount(target.actual)}${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`,
    pass: target.applies === false ? null : met && target.failedBy === undefined,
    value: target.actual,
    unit: target.unit,
    better: target.better,
    reference: target.reference,
    ceiling,
    required: need,
    ...(target.relative ? { relative: true } : {}),
    ...(target.absolute ? { absolute: true } : {}),
  }
}

/** How a judged target was scaled, in words: `3,000 commands/s × 51,476 / 50,000`. */
export function scaling(t: TargetCheck): string {
  if (t.reference === undefined || t.ceiling === undefined) return 'stated before targets were scaled'
  if (t.relative) return 'a ratio within the run: not scaled'
  if (t.absolute) return 'an absolute bound: not scaled'
  const [a, b] = t.better === 'higher' ? [t.ceiling, referenceCeiling] : [referenceCeiling, t.ceiling]
  const unit = t.unit === '%' ? '%' : ` ${t.unit ?? ''}`
  return `${t.reference.toLocaleString('en-US')}${unit} × ${a.toLocaleString('en-US')} / ${b.toLocaleString('en-US')}`
}

function significant(n: number): number {
  if (!Number.isFinite(n) || n === 0) return n
  const step = 10 ** (Math.floor(Math.log10(Math.abs(n))) - 2)
  return Math.round(Math.round(n / step) * step * 1e6) / 1e6
}
