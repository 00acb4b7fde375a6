import { pino } from 'pino'
import { loadConfig } from '../app/config.js'
import type { Domain } from '../app/domain.js'
import { startTandem, type Tandem } from '../app/tandem.js'
import type { Caller } from '../core/messages.js'

/**
 * An embedded Tandem in memory, whatever the environment names: for a command that needs the
 * registered domains and buses for a moment (the examples, the OpenAPI export) and keeps nothing.
 */
export function startThrowawayTandem(): Promise<Tandem> {
  const config = { ...loadConfig(), databaseUrl: undefined, readDatabaseUrl: undefined, redisUrl: undefined }
  return startTandem({
    config: { ...config, roles: undefined, logLevel: 'warn', authSecret: 'throwaway-secret-never-served' },
    inMemory: true,
    log: pino({ level: 'warn' }),
  })
}

/** How one example went: succeeded, or refused with a code; and how long it took. */
export interface ExampleOutcome {
  kind: 'command' | 'query'
  address: string
  input: unknown
  outcome: 'succeeded' | 'failed'
  code?: string
  ms: number
}

/**
 * The guide's `--test-commands` and `--test-queries`: every registered message's examples, sent
 * through the buses with all their middleware, in a fresh in-memory Tandem (nothing is written
 * anywhere else). Commands run in their domain's order, so each finds what the one before created;
 * queries run after all of them. The caller holds every role the domains name.
 */
export async function runExamples(kinds: readonly ('command' | 'query')[]): Promise<ExampleOutcome[]> {
  const tandem = await startThrowawayTandem()
  try {
    return await sendExamples(tandem, kinds)
  } finally {
    await tandem.close()
  }
}

export async function sendExamples(
  tandem: Tandem,
  kinds: readonly ('command' | 'query')[],
): Promise<ExampleOutcome[]> {
  const caller = examplesCaller(tandem.domains)
  const outcomes: ExampleOutcome[] = []
  // Commands run even when only queries are asked for: they write what the queries read.
  for (const domain of tandem.domains) {
    for (const command of domain.commands) {
      for (const [i, input] of (command.examples ?? []).entries()) {
        const as = command.exampleCallers?.[i]
        const done = await tandem.commands.execute(command, input, {
          caller: as ? { id: as, roles: caller.roles } : caller,
        })
        if (kinds.includes('command')) outcomes.push(outcomeOf('command', command, input, done))
      }
    }
  }
  if (!kinds.includes('query')) return outcomes
  await tandem.projections.caughtUp()
  for (const domain of tandem.domains) {
    for (const query of domain.queries) {
      for (const input of query.examples ?? []) {
        outcomes.push(outcomeOf('query', query, input, await tandem.queries.ask(query, input, { caller })))
      }
    }
  }
  return outcomes
}

function outcomeOf(
  kind: 'command' | 'query',
  message: { domain: string; name: string },
  input: unknown,
  done: { status: 'succeeded' | 'failed'; executionTimeMs: number; error?: { code: string } },
): ExampleOutcome {
  return {
    kind,
    address: `${message.domain}/${message.name}`,
    input,
    outcome: done.status,
    ...(done.error ? { code: done.error.code } : {}),
    ms: done.executionTimeMs,
  }
}

/**
 * Who the examples run as: one caller holding every role the domains name. The demo runs them too
 * (cli/serve.ts), and the start banner prints this caller's token, so each example in /docs answers
 * on the demo data as it does in `test-queries`.
 */
export function examplesCaller(domains: readonly Domain[]): Caller {
  return { id: 'tandem-examples', roles: rolesOf(domains) }
}

/** Every role the domains' commands and queries name. */
export function rolesOf(domains: readonly Domain[]): string[] {
  const roles = new Set<string>()
  for (const d of domains) {
    for (const m of [...d.commands, ...d.queries]) {
      if (m.access.kind === 'user') for (const role of m.access.roles ?? []) roles.add(role)
    }
  }
  return [...roles]
}

/** The outcomes as the guide prints them: one line each, then a count. */
export function formatOutcomes(outcomes: readonly ExampleOutcome[]): string {
  const lines = outcomes.map(
    (o) =>
      `${o.outcome === 'succeeded' ? 'ok  ' : 'FAIL'}  ${o.kind.padEnd(7)} ${o.address.padEnd(40)} ${o.ms.toFixed(2).padStart(8)} ms` +
      `${o.code ? `  ${o.code}` : ''}  ${JSON.stringify(o.input)}`,
  )
  const failed = outcomes.filter((o) => o.outcome === 'failed').length
  return `${lines.join('\n')}\n${outcomes.length - failed} succeeded, ${failed} failed`
}
