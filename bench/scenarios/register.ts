import { Acks } from '../lib/acks.js'
import { participants, randomOf, registrations } from '../lib/feed.js'
import { mostRequests } from '../lib/load.js'
import type { TandemServer } from '../lib/tandem-server.js'
import { measure } from './http.js'
import { cpuPerRequest, noErrors, percent, ratio, registrationChecks, type Scenario } from './scenario.js'

/** Tokens signed ahead per second of load: above any rate seen here; more are signed on the fly (counted). */
export const preparedPerSecond = 5000

/**
 * Scenario 3: register-participant over HTTP, 100 connections, every request a new participant (a
 * distinct JWT `sub`), spread over 1,000 events; then the hot case, everyone on one event (every
 * command waits for that event's row lock). Target (server mode, on the reference machine):
 * >= 3,000 commands/s, p99 < 50 ms.
 */
export const registerScenario: Scenario = {
  name: 'register',
  title: 'register-participant over HTTP',
  async run(ctx, mode) {
    const connections = ctx.scale(100, 4)
    const events = ctx.scale(1000, 5)
    const perLoad = mostRequests(ctx.span, preparedPerSecond)
    const bare = await ctx.ceiling()
    const tandem = await ctx.tandem(mode)
    try {
      const eventIds = await tandem.seed(events, 100_000)
      const tokens = participants(tandem.auth, `bench-${mode}`)
      const acks = new Acks()
      const load = (label: string, pick: () => string) => {
        const feed = registrations(tokens, perLoad, pick)
        return {
          feed,
          options: {
            label,
            url: tandem.server.url,
            serverPid: tandem.server.pid,
            connections,
            unit: 'commands/s',
            next: feed.next,
            onResponse: acks.onResponse,
          },
        }
      }
      const spreadLoad = load(`register-participant, ${events} events`, randomOf(eventIds))
      const beforeSpread = await groupStats(tandem)
      const spread = await measure(ctx, spreadLoad.options)
      const afterSpread = await groupStats(tandem)
      const hotLoad = load('register-participant, one hot event', () => eventIds[0] ?? '')
      const hot = await measure(ctx, hotLoad.options)
      const afterHot = await groupStats(tandem)
      const sent = spreadLoad.feed.used + hotLoad.feed.used
      const audit = await tandem.audit(eventIds)
      const server = mode === 'server'
      return {
        measurements: [spread, hot],
        targets: [
          {
            name: `throughput, ${events} events`,
            reference: 3000,
            unit: 'commands/s',
            better: 'higher',
            actual: spread.throughput,
            applies: server,
          },
          {
            name: `p99 latency, ${events} events`,
            reference: 50,
            unit: 'ms',
            better: 'lower',
            actual: spread.p99Ms,
            detail: `hot event: ${hot.p99Ms} ms`,
            applies: server,
          },
        ],
        checks: [noErrors([bare, spread, hot]), ...registrationChecks(audit, acks.ok, acks.unanswered(sent))],
        figures: {
          events,
          connections,
          shareOfBare: ratio(spread.throughput, bare.throughput),
          hotVsSpread: ratio(hot.throughput, spread.throughput),
          tokensSignedDuringLoad: spreadLoad.feed.late + hotLoad.feed.late,
          commandsPerGroupCommitSpread: perGroup(beforeSpread, afterSpread),
          commandsPerGroupCommitHot: perGroup(afterSpread, afterHot),
          ...cpuPerRequest(spread, 'cpuPerCommand'),
        },
        notes: [
          `Every request registers a new participant with their own token (distinct JWT sub, pre-signed: ` +
            `${perLoad} per load). Spread: a random one of ${events} events (capacity 100,000 each). ` +
            'Hot: all on one event, so each command waits for the previous one to release the event row.',
          `Spread throughput is ${percent(ratio(spread.throughput, bare.throughput))} of the bare Fastify GET ceiling.`,
          server
            ? 'Target applies to this mode (PostgreSQL + Redis).'
            : 'Embedded mode: recorded only (the target is set for server mode). PGlite has one connection: transactions take turns.',
        ],
      }
    } finally {
      await tandem.close()
    }
  },
}

interface GroupStats {
  groups: number
  transactions: number
}

/** The server's group-commit counts so far (`/api/cqrs/stats`, as an admin). */
async function groupStats(tandem: TandemServer): Promise<GroupStats> {
  const token = tandem.auth.sign({ sub: 'bench-admin', roles: ['admin'] }, { expiresInSeconds: 600 })
  const response = await fetch(`${tandem.server.url}/api/cqrs/stats`, {
    headers: { authorization: `Bearer ${token}` },
  })
  if (!response.ok) throw new Error(`/api/cqrs/stats answered ${response.status}`)
  return ((await response.json()) as { groupCommit: GroupStats }).groupCommit
}

/** Transactions that read nothing per commit between two readings (1: none were grouped). */
function perGroup(before: GroupStats, after: GroupStats): number {
  const groups = after.groups - before.groups
  return groups === 0 ? 0 : Math.round(((after.transactions - before.transactions) / groups) * 100) / 100
}
