import { ForbiddenError, UnauthenticatedError, isAppError } from './errors.js'
import type { Metrics, Outcome } from './metrics.js'
import type { Call, Middleware } from './pipeline.js'
import { validInput } from './validation.js'
import type { TSchema } from 'typebox'
import type { Access, Caller } from './messages.js'

/**
 * The caller must be allowed by the message's access rule: 401 without a caller or with a refused
 * token, 403 without a role or, for a message some callers alone send, as any other caller. Before
 * the input is checked: a caller that may not send the message learns nothing of its schema.
 */
export function authorize<C extends Call, O>(): Middleware<C, O> {
  return (call, next) => {
    if (call.refusedToken) throw call.refusedToken
    checkAccess(call.definition.access, call.caller)
    return next(call)
  }
}

/** Throws 401 or 403 unless `access` lets `caller` send the message (authorize's rule). */
export function checkAccess(access: Access, caller: Caller | undefined): void {
  if (access.kind !== 'user') return
  if (!caller) throw new UnauthenticatedError()
  // A message some callers alone send says so to anyone else: naming the role would send a caller
  // after a token that is refused too.
  if (access.callers && !access.callers.includes(caller.id))
    throw new ForbiddenError(`Only ${access.callers.join(', ')} sends this`)
  const roles = access.roles
  if (roles && !roles.some((role) => caller.roles.includes(role)))
    throw new ForbiddenError(`This needs one of the roles: ${roles.join(', ')}`)
}

/**
 * The input must fit the message's schema: 400 with every field's problem otherwise. What passes
 * goes on in its canonical form (ids lower-cased: core/canonical.ts).
 */
export function validate<C extends Call, O>(): Middleware<C, O> {
  return (call, next) => {
    call.input = validInput(call.definition.input as TSchema, call.input)
    return next(call)
  }
}

/**
 * A refusal: the request was answered no (4xx), or asked to read at a position not applied in time
 * (503 READ_MODEL_LAGGING: anyone may ask for a position far ahead, and a fault would show as lag).
 * Anything else is an error (a store away, a bug).
 */
export function outcomeOf(error: unknown): Outcome {
  return isAppError(error) && (error.status < 500 || error.code === 'READ_MODEL_LAGGING')
    ? 'refused'
    : 'error'
}

/** Count, errors and a latency histogram per handler. */
export function measure<C extends Call, O>(metrics: Metrics): Middleware<C, O> {
  return async (call, next) => {
    const start = performance.now()
    try {
      const out = await next(call)
      metrics.observe(call.kind, call.address, 'ok', (performance.now() - start) / 1000)
      return out
    } catch (error) {
      metrics.observe(call.kind, call.address, outcomeOf(error), (performance.now() - start) / 1000)
      throw error
    }
  }
}

/**
 * One structured line per message: commands at info, queries at debug; refusals at info, a read
 * model's wait running out at warn, failures at error.
 */
export function logCalls<C extends Call, O>(): Middleware<C, O> {
  return async (call, next) => {
    const start = performance.now()
    const quiet = call.kind === 'query'
    try {
      const out = await next(call)
      // Queries are most of the traffic: build their line only when debug lines are written.
      if (quiet && call.log.isLevelEnabled?.('debug') === false) return out
      const line = { [call.kind]: call.address, userId: call.caller?.id, ms: elapsed(start) }
      if (quiet) call.log.debug(line, `${call.kind} handled`)
      else call.log.info(line, `${call.kind} handled`)
      return out
    } catch (error) {
      const line = { [call.kind]: call.address, userId: call.caller?.id, ms: elapsed(start) }
      if (isAppError(error) && error.status < 500) {
        call.log.info({ ...line, code: error.code }, `${call.kind} refused`)
      } else if (isAppError(error) && error.code === 'READ_MODEL_LAGGING') {
        // The caller's own wait ran out (X-Max-Wait-Ms): worth seeing when frequent, not a fault.
        call.log.warn({ ...line, code: error.code }, `${call.kind} not answered in time`)
      } else call.log.error({ ...line, err: error }, `${call.kind} failed`)
      throw error
    }
  }
}

function elapsed(start: number): number {
  return Math.round((performance.now() - start) * 1000) / 1000
}
