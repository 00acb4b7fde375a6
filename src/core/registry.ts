import { addressOf, type AnyCommand, type AnyQuery } from './messages.js'

/** Every command and query the process can handle, by address (`domain/name`). */
export interface Registry {
  commands: ReadonlyMap<string, AnyCommand>
  queries: ReadonlyMap<string, AnyQuery>
}

/** Builds the registry; two handlers for one address is a start-up error. */
export function createRegistry(messages: {
  commands: readonly AnyCommand[]
  queries: readonly AnyQuery[]
}): Registry {
  return { commands: indexByAddress(messages.commands), queries: indexByAddress(messages.queries) }
}

function indexByAddress<M extends { domain: string; name: string; kind: string }>(
  messages: readonly M[],
): Map<string, M> {
  const byAddress = new Map<string, M>()
  for (const message of messages) {
    const address = addressOf(message)
    if (!/^[a-z][a-z0-9-]*\/[a-z][a-z0-9-]*$/.test(address)) {
      throw new Error(`The ${message.kind} name "${address}" is not kebab case`)
    }
    if (byAddress.has(address))
      throw new Error(`Two ${message.kind} handlers are registered for "${address}"`)
    byAddress.set(address, message)
  }
  return byAddress
}
