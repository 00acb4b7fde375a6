import type { Logger } from './logger.js'
import type { AppError } from './errors.js'
import type { Access, Caller } from './messages.js'
import type { MessageKind } from './metrics.js'

/** What every middleware can see of a message being handled. */
export interface Call {
  readonly kind: MessageKind
  readonly address: string
  readonly definition: { access: Access; input: unknown }
  input: unknown
  readonly caller: Caller | undefined
  /**
   * The credentials the request came with, refused (a bad or expired token): `authorize` answers
   * with this 401 whatever the message's access, after the middleware outside it (logging, metrics,
   * the audit) saw the call.
   */
  readonly refusedToken?: AppError | undefined
  readonly log: Logger
}

export type Step<C, O> = (call: C) => Promise<O>
export type Middleware<C, O> = (call: C, next: Step<C, O>) => Promise<O>

/** Chains middleware around a final step once, so a call allocates no closures. */
export function compose<C, O>(middleware: readonly Middleware<C, O>[], last: Step<C, O>): Step<C, O> {
  return middleware.reduceRight<Step<C, O>>((next, mw) => (call) => mw(call, next), last)
}
