import { type Domain } from '../../kernel/index.js'
import { benchMix } from './bench.js'
import { commands } from './commands.js'
import { demoCallers, demoExamples, seedDemo } from './demo.js'
import { allEvents } from './messages.js'
import { procurementProjections, procurementQueries } from './projections/index.js'
import { getRequest } from './queries.js'
import { migrations } from './write-model.js'

/**
 * Procurement approval: event-sourced purchase requests, approved step by step under a policy, each
 * holding part of its department's yearly budget (a row that never goes negative). The read side
 * (lists, budget summaries, history, statistics, audit) is built on the events this domain writes.
 */
export const procurementDomain: Domain = {
  name: 'procurement',
  events: allEvents,
  // Every command on record (who, what, when, outcome), and reads of others' requests (core/audit.ts).
  audit: true,
  commands,
  queries: [getRequest, ...procurementQueries],
  projections: procurementProjections,
  migrations,
  demoCallers,
  seedDemo,
  demoExamples,
  benchMix,
}
