/**
 * The test kits for domain authors: given / when / then specs of deciders, projections and
 * processors. Domain specs reach them through the kernel's test door, `src/kernel/testing.ts`.
 */
export {
  commandMeta,
  deciderSpec,
  specDefaults,
  type CommandSetting,
  type DeciderSpecOptions,
  type EventSourcedRules,
  type EventSourcedRulesWithRows,
  type ExpectedRefusal,
  type Given,
  type StateStoredRules,
  type Then,
} from './kit/decider.js'
export { benchMixStatuses } from './kit/bench-mix.js'
export { projectionSpec, type KvView, type PlanNode, type ReadModel } from './kit/projection.js'
export {
  processorSpec,
  type ParkedEvent,
  type ProcessorRun,
  type ProcessorSpecOptions,
  type SentCommand,
} from './kit/processor.js'
export { eventRecorder, renumbered, type Recording } from './kit/stored.js'
export { origin, type Checkpoint } from '../storage/event-log.js'
