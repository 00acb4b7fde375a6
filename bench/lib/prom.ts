/** Cumulative histogram buckets, `le` ascending (the last is +Inf). */
export type Buckets = { le: number; count: number }[]

/** The buckets of histogram `name` in Prometheus text, per value of `label` (summed over other labels). */
export function histogramBuckets(text: string, name: string, label: string): Map<string, Buckets> {
  const pattern = new RegExp(`^${name}_bucket\\{([^}]*)\\} ([0-9.eE+-]+|NaN)$`)
  const byKey = new Map<string, Map<number, number>>()
  for (const line of text.split('\n')) {
    const match = pattern.exec(line)
    if (!match) continue
    const labels = new Map<string, string>()
    for (const m of (match[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)) labels.set(m[1] ?? '', m[2] ?? '')
    const key = labels.get(label) ?? ''
    const le = labels.get('le') === '+Inf' ? Infinity : Number(labels.get('le'))
    const buckets = byKey.get(key) ?? new Map<number, number>()
    buckets.set(le, (buckets.get(le) ?? 0) + Number(match[2]))
    byKey.set(key, buckets)
  }
  const out = new Map<string, Buckets>()
  for (const [key, buckets] of byKey) {
    out.set(
      key,
      [...buckets].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le),
    )
  }
  return out
}

/** What was observed between two readings of the same histogram. */
export function difference(after: Buckets, before: Buckets | undefined): Buckets {
  return after.map((b) => ({ le: b.le, count: b.count - (before?.find((x) => x.le === b.le)?.count ?? 0) }))
}

export function sum(all: readonly Buckets[]): Buckets {
  const first = all[0] ?? []
  return first.map((b, i) => ({ le: b.le, count: all.reduce((n, h) => n + (h[i]?.count ?? 0), 0) }))
}

export function total(buckets: Buckets): number {
  return buckets.at(-1)?.count ?? 0
}

/** The q-quantile, interpolated linearly inside its bucket (as Prometheus' histogram_quantile does). */
export function quantile(buckets: Buckets, q: number): number {
  const n = total(buckets)
  if (n === 0) return 0
  const rank = q * n
  let lower = 0
  let below = 0
  for (const { le, count } of buckets) {
    if (count >= rank) {
      if (!Number.isFinite(le)) return lower
      const inBucket = count - below
      return lower + (le - lower) * (inBucket > 0 ? (rank - below) / inBucket : 1)
    }
    lower = le
    below = count
  }
  return lower
}

/** The share of observations at or below `le` (which must be a bucket bound): exact, no interpolation. */
export function shareAtOrBelow(buckets: Buckets, le: number): number {
  const n = total(buckets)
  const bucket = buckets.find((b) => b.le === le)
  if (!bucket) throw new Error(`No bucket at ${le}`)
  return n === 0 ? 1 : bucket.count / n
}
