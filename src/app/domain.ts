import type { CommandBus } from '../core/command-bus.js'
import type { AnyCommand, AnyQuery, Caller } from '../core/messages.js'
import type { Projection } from '../projections/projection.js'
import type { Migration } from '../storage/migrations.js'

/** What a domain registers: its messages, its write-model migrations, its read models, its demo data. */
export interface Domain {
  name: string
  commands: readonly AnyCommand[]
  queries: readonly AnyQuery[]
  projections: readonly Projection[]
  migrations: readonly Migration[]
  /** Callers the demo prints tokens for. */
  demoCallers?: readonly (Caller & { label: string })[]
  seedDemo?(commands: CommandBus): Promise<void>
}
