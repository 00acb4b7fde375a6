import { streamVersion, type Migration, type SqlClient, type Statement } from '../../kernel/index.js'
import { characters, type StudyEvent } from './messages.js'
import {
  blankRow,
  evolveSubject,
  type LearnerState,
  type OpenGoal,
  type SubjectRow,
  type SubjectState,
  type SummaryState,
} from './rules.js'

/** The normalized write model: subjects, their topics and study sessions, goals, summaries. */
export const migrations: readonly Migration[] = [
  {
    id: 'study/001-write-model',
    sql: `
      CREATE SCHEMA study;
      CREATE TABLE study.subject (
        subject_id uuid PRIMARY KEY,
        learner_id text NOT NULL,
        name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
        description text CHECK (char_length(description) <= 2000),
        category text NOT NULL CHECK (char_length(category) BETWEEN 1 AND 50),
        difficulty_level text NOT NULL CHECK (difficulty_level IN ('beginner', 'intermediate', 'advanced')),
        progress_percent integer NOT NULL CHECK (progress_percent BETWEEN 0 AND 100),
        total_minutes bigint NOT NULL CHECK (total_minutes >= 0),
        version integer NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      ) WITH (fillfactor = 70); -- every progress update rewrites its subject's row (HOT updates)
      CREATE INDEX subject_learner ON study.subject (learner_id, created_at);
      CREATE TABLE study.completed_topic (
        subject_id uuid NOT NULL REFERENCES study.subject,
        topic text NOT NULL,
        position integer NOT NULL,
        completed_at timestamptz NOT NULL,
        PRIMARY KEY (subject_id, topic)
      );
      CREATE TABLE study.study_session (
        session_id uuid PRIMARY KEY,
        subject_id uuid NOT NULL REFERENCES study.subject,
        learner_id text NOT NULL,
        minutes integer NOT NULL CHECK (minutes BETWEEN 1 AND 1440),
        day date NOT NULL,
        studied_at timestamptz NOT NULL,
        progress_percent integer NOT NULL,
        recorded_at timestamptz NOT NULL
      );
      CREATE INDEX study_session_subject ON study.study_session (subject_id);
      CREATE TABLE study.goal (
        goal_id uuid PRIMARY KEY,
        learner_id text NOT NULL,
        subject_id uuid REFERENCES study.subject,
        title text NOT NULL,
        target_minutes integer CHECK (target_minutes BETWEEN 1 AND 100000),
        target_date date,
        minutes_done bigint NOT NULL DEFAULT 0,
        status text NOT NULL CHECK (status IN ('open', 'met')),
        created_at timestamptz NOT NULL,
        met_at timestamptz,
        CHECK (target_minutes IS NOT NULL OR (target_date IS NOT NULL AND subject_id IS NOT NULL))
      );
      CREATE INDEX goal_open ON study.goal (learner_id, subject_id) WHERE status = 'open';
      CREATE TABLE study.summary (
        summary_id uuid PRIMARY KEY,
        subject_id uuid NOT NULL REFERENCES study.subject,
        learner_id text NOT NULL,
        style text NOT NULL CHECK (style IN ('brief', 'detailed')),
        content_chars integer NOT NULL,
        status text NOT NULL CHECK (status IN ('pending', 'ready', 'failed')),
        summary text,
        provider text,
        reason text,
        version integer NOT NULL,
        requested_at timestamptz NOT NULL,
        completed_at timestamptz,
        CHECK ((status = 'ready') = (summary IS NOT NULL)),
        CHECK ((status = 'failed') = (reason IS NOT NULL))
      )`,
  },
]

const subjectColumns = `subject_id::text AS "subjectId", learner_id AS "learnerId", name, description, category,
  difficulty_level AS "difficultyLevel", progress_percent AS "progressPercent",
  total_minutes::int AS "totalMinutes", version, created_at AS "createdAt", updated_at AS "updatedAt"`

type RawSubject = Omit<SubjectRow, 'createdAt' | 'updatedAt' | 'completedTopics'> & {
  createdAt: Date
  updatedAt: Date
}

/** Reads the subject and locks its row: commands on one subject take turns, so minutes cannot race. */
async function lockSubject(tx: SqlClient, subjectId: string): Promise<RawSubject | undefined> {
  const [raw] = await tx.query<RawSubject>(
    `SELECT ${subjectColumns} FROM study.subject WHERE subject_id = $1 FOR UPDATE`,
    [subjectId],
  )
  return raw
}

function toState(raw: RawSubject | undefined, completedTopics: readonly string[] = []): SubjectState {
  if (!raw) return { status: 'absent' }
  return {
    status: 'active',
    ...raw,
    completedTopics,
    createdAt: raw.createdAt.toISOString(),
    updatedAt: raw.updatedAt.toISOString(),
  }
}

export async function loadSubject(tx: SqlClient, subjectId: string): Promise<SubjectState> {
  return toState(await lockSubject(tx, subjectId))
}

/** The learner's stream: every command that changes their subjects or goals appends to it. */
export const learnerStream = (learnerId: string) => `study-learner-${learnerId}`

/**
 * A learner's subjects (with their topics) and open goals, locked in id order (subjects, then
 * goals), and the version of their stream. Sent together: the later reads start once the locks are
 * held. Two commands of one learner take turns; a command of another learner takes none of these.
 */
export async function loadLearner(tx: SqlClient, learnerId: string): Promise<LearnerState> {
  const [subjects, goals, version] = await Promise.all([
    tx.query<RawSubject & { topics: string[] | null }>(
      `SELECT ${subjectColumns},
         (SELECT json_agg(t.topic ORDER BY t.position) FROM study.completed_topic t
          WHERE t.subject_id = s.subject_id) AS topics
       FROM study.subject s WHERE learner_id = $1 ORDER BY subject_id FOR UPDATE`,
      [learnerId],
    ),
    tx.query<OpenGoal>(
      `SELECT goal_id::text AS "goalId", subject_id::text AS "subjectId", target_minutes AS "targetMinutes",
              to_char(target_date, 'YYYY-MM-DD') AS "targetDate", minutes_done::int AS "minutesDone",
              to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "createdAt"
       FROM study.goal WHERE learner_id = $1 AND status = 'open' ORDER BY goal_id FOR UPDATE`,
      [learnerId],
    ),
    streamVersion(tx, learnerStream(learnerId)),
  ])
  const rows: Record<string, SubjectRow> = {}
  for (const raw of subjects) {
    const { topics, ...subject } = raw
    const state = toState(subject, topics ?? [])
    if (state.status === 'active') {
      const { status: _, ...row } = state
      rows[row.subjectId] = row
    }
  }
  return { learnerId, version, subjects: rows, goals }
}

export async function loadSummary(tx: SqlClient, summaryId: string): Promise<SummaryState> {
  const [row] = await tx.query<{
    status: 'pending' | 'ready' | 'failed'
    subjectId: string
    learnerId: string
  }>(
    `SELECT status, subject_id::text AS "subjectId", learner_id AS "learnerId"
     FROM study.summary WHERE summary_id = $1 FOR UPDATE`,
    [summaryId],
  )
  return row ? { ...row, summaryId } : { status: 'absent' }
}

export async function summaryExists(tx: SqlClient, summaryId: string): Promise<boolean> {
  const rows = await tx.query('SELECT 1 FROM study.summary WHERE summary_id = $1', [summaryId])
  return rows.length > 0
}

export async function goalExists(tx: SqlClient, goalId: string): Promise<boolean> {
  const rows = await tx.query('SELECT 1 FROM study.goal WHERE goal_id = $1', [goalId])
  return rows.length > 0
}

/** The subject as the events leave it: what its row holds after them. */
export function subjectAfter(events: readonly StudyEvent[], state: SubjectState): SubjectRow {
  const { status: _, ...before } = state.status === 'absent' ? { status: 'absent', ...blankRow } : state
  return events.reduce(evolveSubject, before)
}

/** The rows the events of a command on a subject change: the subject row as it ends up, and the rest. */
export function persistSubject(events: readonly StudyEvent[], state: SubjectState): Statement[] {
  const after = subjectAfter(events, state)
  return [state.status === 'absent' ? insertSubject(after) : updateSubject(after), ...events.flatMap(rowsOf)]
}

function insertSubject(r: SubjectRow): Statement {
  return {
    text: `INSERT INTO study.subject (subject_id, learner_id, name, description, category, difficulty_level,
             progress_percent, total_minutes, version, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
    params: [
      r.subjectId,
      r.learnerId,
      r.name,
      r.description,
      r.category,
      r.difficultyLevel,
      r.progressPercent,
      r.totalMinutes,
      r.version,
      r.createdAt,
      r.updatedAt,
    ],
  }
}

/** The locked row, as the events left it: absolute values are safe under the lock. */
function updateSubject(r: SubjectRow): Statement {
  return {
    text: `UPDATE study.subject SET name = $2, description = $3, category = $4, difficulty_level = $5,
             progress_percent = $6, total_minutes = $7, version = $8, updated_at = $9
           WHERE subject_id = $1`,
    params: [
      r.subjectId,
      r.name,
      r.description,
      r.category,
      r.difficultyLevel,
      r.progressPercent,
      r.totalMinutes,
      r.version,
      r.updatedAt,
    ],
  }
}

/** Rows besides the subject's own: sessions, topics, goals and summaries. */
export function rowsOf(event: StudyEvent): Statement[] {
  switch (event.type) {
    case 'StudyProgressUpdated': {
      const d = event.data
      const topics = JSON.stringify(d.completedTopics)
      return [
        {
          text: `INSERT INTO study.study_session (session_id, subject_id, learner_id, minutes, day, studied_at,
                   progress_percent, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
          params: [
            d.sessionId,
            d.subjectId,
            d.learnerId,
            d.minutesStudied,
            d.day,
            d.studiedAt,
            d.progressPercent,
            d.recordedAt,
          ],
        },
        ...(d.reset
          ? [{ text: 'DELETE FROM study.completed_topic WHERE subject_id = $1', params: [d.subjectId] }]
          : []),
        // The list after the update, in order: topics already stored keep their row (none: nothing to add).
        ...(d.completedTopics.length === 0
          ? []
          : [
              {
                text: `INSERT INTO study.completed_topic (subject_id, topic, position, completed_at)
                 SELECT $1, t.topic, t.n, $3 FROM jsonb_array_elements_text($2::jsonb) WITH ORDINALITY AS t(topic, n)
                 ON CONFLICT (subject_id, topic) DO NOTHING`,
                params: [d.subjectId, topics, d.recordedAt],
              },
            ]),
        {
          // Minutes studied before a goal was set do not count towards it (rules.ts, countsTowards).
          text: `UPDATE study.goal SET minutes_done = minutes_done + $3
                 WHERE learner_id = $1 AND status = 'open' AND (subject_id = $2 OR subject_id IS NULL)
                   AND created_at <= $4::timestamptz`,
          params: [d.learnerId, d.subjectId, d.minutesStudied, d.studiedAt],
        },
      ]
    }
    case 'StudyGoalMet':
      return [
        {
          text: `UPDATE study.goal SET status = 'met', met_at = $2, minutes_done = $3 WHERE goal_id = $1`,
          params: [event.data.goalId, event.data.metAt, event.data.minutesDone],
        },
      ]
    case 'StudyGoalCreated': {
      const d = event.data
      return [
        {
          text: `INSERT INTO study.goal (goal_id, learner_id, subject_id, title, target_minutes, target_date, status, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, 'open', $7)`,
          params: [d.goalId, d.learnerId, d.subjectId, d.title, d.targetMinutes, d.targetDate, d.createdAt],
        },
      ]
    }
    case 'SummaryRequested': {
      const d = event.data
      return [
        {
          text: `INSERT INTO study.summary (summary_id, subject_id, learner_id, style, content_chars, status, version, requested_at)
                 VALUES ($1, $2, $3, $4, $5, 'pending', 1, $6)`,
          params: [d.summaryId, d.subjectId, d.learnerId, d.style, characters(d.content), d.requestedAt],
        },
      ]
    }
    case 'SummaryGenerated':
      return [
        {
          text: `UPDATE study.summary SET status = 'ready', summary = $2, provider = $3, completed_at = $4, version = 2
                 WHERE summary_id = $1`,
          params: [event.data.summaryId, event.data.summary, event.data.provider, event.data.generatedAt],
        },
      ]
    case 'SummaryFailed':
      return [
        {
          text: `UPDATE study.summary SET status = 'failed', reason = $2, completed_at = $3, version = 2
                 WHERE summary_id = $1`,
          params: [event.data.summaryId, event.data.reason, event.data.failedAt],
        },
      ]
    case 'SubjectCreated':
    case 'SubjectUpdated':
      return []
  }
}
