/** Latencies in milliseconds, kept whole so any percentile is exact. */
export class Latencies {
  private values = new Float64Array(1024)
  private size = 0

  add(ms: number): void {
    if (this.size === this.values.length) {
      const grown = new Float64Array(this.values.length * 2)
      grown.set(this.values)
      this.values = grown
    }
    this.values[this.size++] = ms
  }

  get count(): number {
    return this.size
  }

  summary(): LatencySummary {
    const sorted = this.values.slice(0, this.size).sort()
    const at = (q: number) =>
      this.size === 0 ? 0 : round(sorted[Math.min(this.size - 1, Math.ceil(q * this.size) - 1)] ?? 0)
    return {
      p50Ms: at(0.5),
      p95Ms: at(0.95),
      p99Ms: at(0.99),
      maxMs: this.size === 0 ? 0 : round(sorted[this.size - 1] ?? 0),
    }
  }
}

export interface LatencySummary {
  p50Ms: number
  p95Ms: number
  p99Ms: number
  maxMs: number
}

/** Three significant decimals: enough for milliseconds and ratios. */
export function round(n: number, digits = 3): number {
  const f = 10 ** digits
  return Math.round(n * f) / f
}

export function tally(counts: Record<string, number>, key: string | number): void {
  counts[key] = (counts[key] ?? 0) + 1
}
