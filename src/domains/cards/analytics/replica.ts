import type { DomainSetting, ReplicaDefinition } from '../../../kernel/index.js'
import { allSpendingTag, customerSpendingTag, merchantSpendingTag } from '../projections/spending.js'
import { transactionEventTypes } from './log-reader.js'

/**
 * The analytics engine as this process's replica (`engine=duckdb` of the analytics queries): opened
 * in each process with the query role, fed from the log by its own follower, woken by commits of
 * transaction events. Where it lives is a setting: in memory (rebuilt from the log at each start),
 * in a file of this process's own (resumes at its checkpoint), or nowhere (`engine=duckdb` is a 400).
 */
export interface AnalyticsSettings {
  /** `memory`, `off`, or the path of a DuckDB file (one process per file). */
  store: string
}

export const analyticsReplicaName = 'analytics'

export function analyticsReplica(settings: AnalyticsSettings): ReplicaDefinition {
  return {
    name: analyticsReplicaName,
    async open(context) {
      if (settings.store === 'off') return undefined
      const path = settings.store === 'memory' ? undefined : settings.store
      // DuckDB's native module is loaded only by a process that keeps the replica (not the CLI).
      const { openCardAnalytics } = await import('./engine.js')
      const analytics = await openCardAnalytics({
        sql: context.sql,
        transactionOf: context.transactionOf,
        ...(path ? { path } : {}),
        onApplied(events) {
          const tags = new Set<string>([allSpendingTag('duckdb')])
          for (const e of events) {
            tags.add(merchantSpendingTag('duckdb', e.merchantId))
            if (e.customerId !== null) tags.add(customerSpendingTag('duckdb', e.customerId))
          }
          context.invalidate(tags)
        },
      }).catch((error: unknown) => {
        const reason = error instanceof Error ? error.message : String(error)
        // Coded, the command line says it in one line (cli/main.ts), as the other settings' refusals.
        throw Object.assign(
          new Error(
            `CARDS_DUCKDB: the DuckDB replica cannot be opened${path ? ` in ${path}` : ''}: ${reason}`,
          ),
          { code: 'REPLICA_NOT_OPENED' },
        )
      })
      const unsubscribe = context.onCommitted(analytics.nudge, transactionEventTypes)
      analytics.follow(context.pollMs, (error) =>
        context.log.warn({ err: error }, 'the DuckDB replica failed to apply a batch; it reads it again'),
      )
      return {
        ...analytics,
        async close() {
          unsubscribe()
          await analytics.close()
        },
      }
    },
  }
}

export function analyticsSettingsFrom(env: NodeJS.ProcessEnv): AnalyticsSettings {
  return { store: env.CARDS_DUCKDB?.trim() || 'memory' }
}

export const analyticsSetting: DomainSetting = {
  name: 'CARDS_DUCKDB',
  text: 'Where each query process keeps its DuckDB replica of the card transactions (engine=duckdb): memory (rebuilt from the log at start), off, or the path of a file of its own (resumes where it stopped)',
  default: 'memory',
  pattern: {
    regex: /^(memory|off|[^\0]*\.duckdb)$/,
    takes: 'memory, off, or the path of a file ending in .duckdb',
  },
}
