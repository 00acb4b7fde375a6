import {
  ConflictError,
  NotFoundError,
  unreachable,
  type CommandMeta,
  type EventSourcedDecider,
} from '../../../kernel/index.js'
import { AlertResolved, type AnomalyDetected, type ResolveAlert } from '../messages.js'

/**
 * An alert is event-sourced on its own stream, `cards-alert-<alertId>`: raised (AnomalyDetected),
 * then resolved once (AlertResolved). Its id is made from the rule and the triggering transaction
 * (rules.ts `alertIdOf`), so raising it again finds the stream taken: the log's unique (stream,
 * version) refuses a second first event, whichever process, retry or redelivery sends it.
 */
export const alertStream = (alertId: string) => `cards-alert-${alertId}`

type Detected = ReturnType<typeof AnomalyDetected.create>
type Resolved = ReturnType<typeof AlertResolved.create>
export type AlertEvent = Detected | Resolved

export type AlertState =
  | { status: 'absent' }
  | { status: 'open'; alert: Detected['data'] }
  | { status: 'resolved'; alert: Detected['data']; resolution: Resolved['data']['resolution'] }

export const initialAlert: AlertState = { status: 'absent' }

export function evolveAlert(state: AlertState, event: AlertEvent): AlertState {
  switch (event.type) {
    case 'AnomalyDetected':
      return { status: 'open', alert: event.data }
    case 'AlertResolved':
      return state.status === 'absent'
        ? state
        : { ...state, status: 'resolved', resolution: event.data.resolution }
    default:
      return unreachable(event)
  }
}

/** Resolve an open alert as fraud or legitimate; an unknown one is 404, a resolved one 409. */
export function decideResolve(cmd: ResolveAlert, state: AlertState, meta: CommandMeta): Resolved[] {
  switch (state.status) {
    case 'absent':
      throw new NotFoundError('ALERT_NOT_FOUND', 'Alert not found', `No alert ${cmd.alertId}`)
    case 'resolved':
      throw new ConflictError(
        'ALERT_ALREADY_RESOLVED',
        'Alert already resolved',
        `The alert was resolved as ${state.resolution}`,
      )
    case 'open': {
      const { alertId, cardId, customerId, rule, transactionId } = state.alert
      return [
        AlertResolved.create({
          alertId,
          cardId,
          customerId,
          rule,
          transactionId,
          resolution: cmd.resolution,
          note: cmd.note ?? null,
          resolvedBy: meta.caller?.id ?? 'unknown',
          resolvedAt: meta.now.toISOString(),
        }),
      ]
    }
    default:
      return unreachable(state)
  }
}

export const resolveDecider: EventSourcedDecider<
  ResolveAlert,
  AlertState,
  AlertEvent,
  { alertId: string; status: 'resolved'; resolution: 'fraud' | 'legitimate' }
> = {
  streamId: (cmd) => alertStream(cmd.alertId),
  initial: initialAlert,
  evolve: evolveAlert,
  decide: decideResolve,
  result: (_events, cmd) => ({ alertId: cmd.alertId, status: 'resolved', resolution: cmd.resolution }),
}
