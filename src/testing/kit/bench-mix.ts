import type { CommandBus } from '../../core/command-bus.js'
import type { QueryBus } from '../../core/query-bus.js'
import type { Domain } from '../../kernel/domain.js'

/**
 * Prepares a domain's bench mix (`tandem bench --domain`) and runs `count` of its commands and of
 * its queries, their draws spread over [0, 1): the status of each, a command's then a query's. A
 * domain without a mix gives none.
 */
export async function benchMixStatuses(
  domain: Pick<Domain, 'benchMix'>,
  buses: { commands: CommandBus; queries: QueryBus },
  count: number,
): Promise<string[]> {
  const mix = await domain.benchMix?.prepare({ commands: buses.commands, queries: buses.queries }, new Date())
  const statuses: string[] = []
  for (let i = 0; mix && i < count; i++) {
    statuses.push((await mix.command(i, i / count)).status, (await mix.query(i, i / count)).status)
  }
  return statuses
}
