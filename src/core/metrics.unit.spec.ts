import { describe, expect, it } from 'vitest'
import { createMetrics } from './metrics.js'

describe('handler stats', () => {
  it('counts each outcome per message, apart for commands and queries', async () => {
    const metrics = createMetrics()
    metrics.observe('command', 'events/create-event', 'ok', 0.002)
    metrics.observe('command', 'events/create-event', 'refused', 0.001)
    metrics.observe('command', 'events/create-event', 'error', 0.004)
    metrics.observe('query', 'events/create-event', 'ok', 0.001)
    const stats = await metrics.handlerStats()
    expect(stats.command['events/create-event']).toMatchObject({
      count: 3,
      refusals: 1,
      errors: 1,
      avgMs: 2.333,
    })
    expect(stats.query['events/create-event']).toMatchObject({ count: 1, refusals: 0, errors: 0, avgMs: 1 })
  })

  it('estimates percentiles by interpolating inside the histogram bucket', async () => {
    const metrics = createMetrics()
    // All in the 2.5–5 ms bucket: the estimate spreads them evenly across it.
    for (let i = 0; i < 100; i++) metrics.observe('query', 'q/even', 'ok', 0.003)
    // 90 in the 0.5–1 ms bucket, 10 in the 1–2.5 s bucket.
    for (let i = 0; i < 90; i++) metrics.observe('query', 'q/skewed', 'ok', 0.001)
    for (let i = 0; i < 10; i++) metrics.observe('query', 'q/skewed', 'refused', 1.5)
    const stats = (await metrics.handlerStats()).query
    expect(stats['q/even']).toMatchObject({ avgMs: 3, p50Ms: 3.75, p95Ms: 4.875, p99Ms: 4.975 })
    expect(stats['q/skewed']).toMatchObject({ p50Ms: 0.778, p95Ms: 1750, p99Ms: 2350 })
  })

  it('reports a time past the last bucket as the last bound', async () => {
    const metrics = createMetrics()
    metrics.observe('command', 'c/slow', 'ok', 30)
    metrics.observe('command', 'c/slow', 'ok', 30)
    expect((await metrics.handlerStats()).command['c/slow']).toMatchObject({ p50Ms: 10_000, p99Ms: 10_000 })
  })

  it('gives one sample as its every percentile, not a point of its bucket', async () => {
    const metrics = createMetrics()
    metrics.observe('command', 'c/once', 'ok', 0.047231)
    expect((await metrics.handlerStats()).command['c/once']).toMatchObject({
      avgMs: 47.231,
      p50Ms: 47.231,
      p99Ms: 47.231,
    })
  })

  it('adds cache hits and misses to the query they belong to', async () => {
    const metrics = createMetrics()
    metrics.observe('query', 'q/cached', 'ok', 0.001)
    metrics.cache('q/cached', true)
    metrics.cache('q/cached', true)
    metrics.cache('q/cached', false)
    const stats = (await metrics.handlerStats()).query['q/cached']
    expect(stats).toMatchObject({ cacheHits: 2, cacheMisses: 1, cacheHitRate: 0.667 })
  })
})

describe('group commit stats', () => {
  it('counts the groups sent and the transactions in them', async () => {
    const metrics = createMetrics()
    expect(await metrics.groupStats()).toEqual({ groups: 0, transactions: 0 })
    metrics.commitGroup(1)
    metrics.commitGroup(5)
    metrics.commitGroup(3)
    expect(await metrics.groupStats()).toEqual({ groups: 3, transactions: 9 })
    expect(await metrics.registry.metrics()).toContain('tandem_commit_group_size_bucket{le="4"} 2')
  })
})
