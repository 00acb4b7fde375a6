/** Messages between the bench process and a server child over the fork IPC channel. */

export type ServerKind = 'tandem' | 'bare' | 'crud'

export interface Ready {
  op: 'ready'
  port: number
  /** Server mode: the Redis key prefix of this log's read models (cleaned up afterwards). */
  redisPrefix?: string
}

export type Request =
  | { id: number; op: 'seed'; events: number; capacity: number }
  | { id: number; op: 'audit'; eventIds: string[] }
  | { id: number; op: 'studyAudit'; subjects: StudySubject[] }
  /** Resolves once the read models this process serves have applied the whole log. */
  | { id: number; op: 'caughtUp' }
  | { id: number; op: 'close' }
  /** Feed scenario: statements run in one transaction (the bulk loader), nothing answered. */
  | { id: number; op: 'sqlCommit'; statements: { text: string; params?: unknown[] }[] }
  /** Feed scenario: one read of the write model, its rows answered. */
  | { id: number; op: 'sqlQuery'; text: string; params: unknown[] }
  /** Feed scenario: a query asked as `caller` with the cache off, its data answered. */
  | { id: number; op: 'ask'; address: string; input: Record<string, unknown>; caller: string }
  /** Feed scenario: the newest `count` members of each sorted set, read from a KV read model. */
  | { id: number; op: 'kvNewest'; model: string; keys: string[]; count: number }
  /** Feed scenario: each read model this process places, how far it stands. */
  | { id: number; op: 'projectionStatus' }
  /** Feed scenario: where a KV read model's live generation keeps its keys (under the Redis prefix). */
  | { id: number; op: 'kvPrefix'; model: string }
  /** `BENCH_PHASE_PROF`: a CPU profile of the measured window begun, or ended and written to `file` (a path without its extension). */
  | { id: number; op: 'profile'; action: 'start' | 'stop'; file?: string }

export interface Audit {
  /** Confirmed registrations in the write model. */
  confirmed: number
  /** Distinct participants among them. */
  participants: number
  /** Registration events in the log. */
  registeredEvents: number
  /** Sum of `confirmedCount` over the event-details read model, once caught up. */
  readModelConfirmed: number
  /** Whether every projection caught up with the log. */
  caughtUp: boolean
}

/** A study subject and its learner (who alone may read it). */
export interface StudySubject {
  subjectId: string
  learnerId: string
}

/** What the study domain recorded for some subjects' progress updates. */
export interface StudyAudit {
  /** Sum of `total_minutes` over the subjects in the write model. */
  writeMinutes: number
  /** Study sessions (one per update recorded) in the write model, and their minutes. */
  sessions: number
  sessionMinutes: number
  /** StudyProgressUpdated events in the log for the subjects. */
  progressEvents: number
  /** Sum of `totalMinutes` over get-subject-detail (cache off), once caught up. */
  readModelMinutes: number
  caughtUp: boolean
}

export type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string }
