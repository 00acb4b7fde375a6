import { type Migration, type SqlClient, type Statement } from '../../kernel/index.js'
import type { Question, QuizEvent, SessionEvent } from './messages.js'
import { evolve, maxScoreOf, type QuizRow, type QuizState } from './rules.js'
import { type OpenSession, type SessionQuiz, type SessionState, type SessionTally } from './session-rules.js'

/**
 * The normalized write model, in schema `quiz`: quizzes and their questions, attempts, sessions and
 * the quizzes each session holds. Arrays (choices, answers) are jsonb: one value each, never queried
 * inside by the write side.
 */
export const migrations: readonly Migration[] = [
  {
    id: 'quiz/001-write-model',
    sql: `
      CREATE SCHEMA quiz;
      CREATE TABLE quiz.quiz (
        quiz_id uuid PRIMARY KEY,
        author_id text NOT NULL,
        subject_id uuid, -- the study domain's subject, an opaque reference (no foreign key across domains)
        title text NOT NULL,
        public boolean NOT NULL,
        question_count integer NOT NULL CHECK (question_count BETWEEN 1 AND 100),
        max_score integer NOT NULL CHECK (max_score >= 1),
        version integer NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      );
      CREATE TABLE quiz.question (
        quiz_id uuid NOT NULL REFERENCES quiz.quiz,
        position integer NOT NULL CHECK (position BETWEEN 0 AND 99),
        text text NOT NULL,
        choices jsonb NOT NULL CHECK (jsonb_array_length(choices) BETWEEN 2 AND 10),
        answer integer NOT NULL CHECK (answer >= 0 AND answer < jsonb_array_length(choices)),
        points integer NOT NULL CHECK (points BETWEEN 1 AND 100),
        PRIMARY KEY (quiz_id, position)
      );
      CREATE TABLE quiz.session (
        session_id uuid PRIMARY KEY,
        user_id text NOT NULL,
        time_limit_minutes integer NOT NULL CHECK (time_limit_minutes BETWEEN 1 AND 600),
        started_at timestamptz NOT NULL,
        ends_at timestamptz NOT NULL,
        status text NOT NULL CHECK (status IN ('open', 'completed', 'expired')),
        closed_at timestamptz,
        late boolean,
        score integer,
        max_score integer,
        version integer NOT NULL,
        CHECK ((status = 'open') = (closed_at IS NULL))
      );
      CREATE TABLE quiz.session_quiz (
        session_id uuid NOT NULL REFERENCES quiz.session,
        quiz_id uuid NOT NULL REFERENCES quiz.quiz,
        position integer NOT NULL,
        PRIMARY KEY (session_id, quiz_id)
      );
      CREATE TABLE quiz.attempt (
        attempt_id uuid PRIMARY KEY,
        quiz_id uuid NOT NULL REFERENCES quiz.quiz,
        user_id text NOT NULL,
        session_id uuid REFERENCES quiz.session,
        answers jsonb NOT NULL,
        correct jsonb NOT NULL,
        score integer NOT NULL CHECK (score >= 0 AND score <= max_score),
        max_score integer NOT NULL,
        attempted_at timestamptz NOT NULL
      );
      CREATE INDEX attempt_quiz ON quiz.attempt (quiz_id);
      -- A quiz is attempted once within a session, whatever runs concurrently.
      CREATE UNIQUE INDEX attempt_once_per_session ON quiz.attempt (session_id, quiz_id) WHERE session_id IS NOT NULL`,
  },
  {
    id: 'quiz/002-open-sessions-by-user',
    // A user's open sessions, for an attempt outside them (openSessionWith).
    sql: `CREATE INDEX session_open_by_user ON quiz.session (user_id) WHERE status = 'open'`,
  },
  {
    id: 'quiz/003-sessions-by-quiz',
    // Whether any session holds a quiz, which locks its questions (loadQuiz).
    sql: `CREATE INDEX session_quiz_by_quiz ON quiz.session_quiz (quiz_id)`,
  },
]

/** NO KEY UPDATE to change a row (foreign keys to it still insert), SHARE to build on it unchanged. */
type Lock = 'NO KEY UPDATE' | 'SHARE'
type RawQuiz = Omit<QuizRow, 'questions' | 'createdAt' | 'updatedAt'> & { createdAt: Date; updatedAt: Date }

/**
 * The quiz, its row locked (FOR NO KEY UPDATE to change it, FOR SHARE to attempt it or put it in a
 * session, so those run side by side and an update waits for them), then its questions and whether
 * it was ever attempted or put in a session: a second statement, sent after the first, so it starts
 * once the lock is held and sees every commit before it.
 */
export async function loadQuiz(tx: SqlClient, quizId: string, lock: Lock): Promise<QuizState> {
  const [[raw], [rest]] = await Promise.all([
    tx.query<RawQuiz>(
      `SELECT quiz_id::text AS "quizId", author_id AS "authorId", subject_id::text AS "subjectId", title, public,
         version, created_at AS "createdAt", updated_at AS "updatedAt"
       FROM quiz.quiz WHERE quiz_id = $1 FOR ${lock}`,
      [quizId],
    ),
    tx.query<{ questions: Question[]; used: boolean }>(
      `SELECT coalesce((SELECT json_agg(json_build_object('text', text, 'choices', choices, 'answer', answer,
                  'points', points) ORDER BY position) FROM quiz.question WHERE quiz_id = $1), '[]'::json) AS questions,
              EXISTS (SELECT 1 FROM quiz.attempt WHERE quiz_id = $1)
                OR EXISTS (SELECT 1 FROM quiz.session_quiz WHERE quiz_id = $1) AS used`,
      [quizId],
    ),
  ])
  if (!raw) return { status: 'absent' }
  return {
    ...raw,
    status: rest?.used ? 'locked' : 'open',
    questions: rest?.questions ?? [],
    createdAt: raw.createdAt.toISOString(),
    updatedAt: raw.updatedAt.toISOString(),
  }
}

/**
 * Who may put each quiz in a session: its author, or anyone when it is public. The rows are locked
 * FOR SHARE to the commit, so an update of a quiz's questions waits and then sees it held (locked).
 */
export function loadSessionQuizzes(tx: SqlClient, quizIds: readonly string[]): Promise<SessionQuiz[]> {
  return tx.query<SessionQuiz>(
    `SELECT quiz_id::text AS "quizId", author_id AS "authorId", public FROM quiz.quiz
     WHERE quiz_id IN (SELECT value::uuid FROM jsonb_array_elements_text($1::jsonb))
     ORDER BY quiz_id FOR SHARE`,
    [JSON.stringify(quizIds)],
  )
}

type RawSession =
  Exclude<SessionState, { status: 'absent' }> extends infer S
    ? Omit<S, 'startedAt' | 'endsAt'> & { startedAt: Date; endsAt: Date }
    : never

/** The session, its row locked (FOR NO KEY UPDATE to close it, FOR SHARE to attempt a quiz in it). */
export async function loadSession(tx: SqlClient, sessionId: string, lock: Lock): Promise<SessionState> {
  const [raw] = await tx.query<RawSession>(
    `SELECT session_id::text AS "sessionId", user_id AS "userId", status, time_limit_minutes AS "timeLimitMinutes",
       started_at AS "startedAt", ends_at AS "endsAt", version,
       coalesce((SELECT json_agg(quiz_id::text ORDER BY position) FROM quiz.session_quiz sq
                 WHERE sq.session_id = s.session_id), '[]'::json) AS "quizIds"
     FROM quiz.session s WHERE session_id = $1 FOR ${lock}`,
    [sessionId],
  )
  if (!raw) return { status: 'absent' }
  return { ...raw, startedAt: raw.startedAt.toISOString(), endsAt: raw.endsAt.toISOString() }
}

/**
 * Takes the user's turn between starting a session and attempting a quiz outside one, until the
 * commit: an attempt outside a session that another transaction is starting sees that session once
 * it waited, and is refused (`openSessionWith`), instead of showing the answers of a quiz in it.
 */
export async function lockUserSessions(tx: SqlClient, userId: string): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 31)) AS locked', [
    `quiz-sessions:${userId}`,
  ])
}

/** The user's open session, not yet at its end, that holds one of the quizzes; or undefined. */
export async function openSessionWith(
  tx: SqlClient,
  userId: string,
  quizIds: readonly string[],
  now: Date,
): Promise<OpenSession | undefined> {
  const [row] = await tx.query<{ sessionId: string; quizId: string; endsAt: Date }>(
    `SELECT s.session_id::text AS "sessionId", sq.quiz_id::text AS "quizId", s.ends_at AS "endsAt"
     FROM quiz.session s JOIN quiz.session_quiz sq USING (session_id)
     WHERE s.user_id = $1 AND s.status = 'open' AND s.ends_at > $3 AND sq.quiz_id = ANY($2::uuid[])
     ORDER BY s.ends_at, sq.position LIMIT 1`,
    [userId, quizIds, now],
  )
  return row && { sessionId: row.sessionId, quizId: row.quizId, endsAt: row.endsAt.toISOString() }
}

/** Whether the quiz was attempted in the session already (the unique index settles a race). */
export async function attemptedInSession(tx: SqlClient, sessionId: string, quizId: string): Promise<boolean> {
  const [row] = await tx.query<{ found: boolean }>(
    'SELECT EXISTS (SELECT 1 FROM quiz.attempt WHERE session_id = $1 AND quiz_id = $2) AS found',
    [sessionId, quizId],
  )
  return row?.found ?? false
}

/**
 * The session (locked) and what its attempts add up to: sent after the lock statement, so every
 * attempt that held the session before it is counted, and none can start after it.
 */
export async function loadForClosing(tx: SqlClient, sessionId: string) {
  const [session, [tally]] = await Promise.all([
    loadSession(tx, sessionId, 'NO KEY UPDATE'),
    tx.query<SessionTally>(
      `SELECT coalesce((SELECT sum(score) FROM quiz.attempt WHERE session_id = $1), 0)::int AS score,
              (SELECT count(*) FROM quiz.attempt WHERE session_id = $1)::int AS attempted,
              coalesce((SELECT sum(q.max_score) FROM quiz.session_quiz sq JOIN quiz.quiz q USING (quiz_id)
                        WHERE sq.session_id = $1), 0)::int AS "maxScore"`,
      [sessionId],
    ),
  ])
  return { session, tally: tally ?? { score: 0, maxScore: 0, attempted: 0 } }
}

const insertQuestions = (quizId: string, questions: readonly Question[]): Statement => ({
  text: `INSERT INTO quiz.question (quiz_id, position, text, choices, answer, points)
         SELECT $1, e.n - 1, e.q->>'text', e.q->'choices', (e.q->>'answer')::int, (e.q->>'points')::int
         FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS e(q, n)`,
  params: [quizId, JSON.stringify(questions)],
})

/** The rows the quiz events change. */
export function persistQuiz(events: readonly QuizEvent[], state: QuizState): Statement[] {
  const after = events.reduce(evolve, state)
  return events.flatMap((event): Statement[] => {
    switch (event.type) {
      case 'QuizCreated': {
        const d = event.data
        return [
          {
            text: `INSERT INTO quiz.quiz (quiz_id, author_id, subject_id, title, public, question_count, max_score,
                     version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8)`,
            params: [
              d.quizId,
              d.authorId,
              d.subjectId,
              d.title,
              d.public,
              d.questions.length,
              maxScoreOf(d.questions),
              d.createdAt,
            ],
          },
          insertQuestions(d.quizId, d.questions),
        ]
      }
      case 'QuizUpdated': {
        if (after.status === 'absent') return []
        const { quizId } = after
        const { questions } = event.data.changes
        const update: Statement = {
          text: `UPDATE quiz.quiz SET subject_id = $2, title = $3, public = $4, question_count = $5, max_score = $6,
                   version = $7, updated_at = $8 WHERE quiz_id = $1`,
          params: [
            quizId,
            after.subjectId,
            after.title,
            after.public,
            after.questions.length,
            maxScoreOf(after.questions),
            event.data.version,
            event.data.updatedAt,
          ],
        }
        if (!questions) return [update]
        return [
          update,
          { text: 'DELETE FROM quiz.question WHERE quiz_id = $1', params: [quizId] },
          insertQuestions(quizId, questions),
        ]
      }
      case 'QuizAttempted': {
        const d = event.data
        return [
          {
            text: `INSERT INTO quiz.attempt (attempt_id, quiz_id, user_id, session_id, answers, correct, score, max_score,
                     attempted_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8, $9)`,
            params: [
              d.attemptId,
              d.quizId,
              d.userId,
              d.sessionId,
              JSON.stringify(d.answers),
              JSON.stringify(d.correct),
              d.score,
              d.maxScore,
              d.attemptedAt,
            ],
          },
        ]
      }
    }
  })
}

/** The rows the session events change. */
export function persistSession(events: readonly SessionEvent[]): Statement[] {
  return events.flatMap((event): Statement[] => {
    switch (event.type) {
      case 'QuizSessionCreated': {
        const d = event.data
        return [
          {
            text: `INSERT INTO quiz.session (session_id, user_id, time_limit_minutes, started_at, ends_at, status, version)
                   VALUES ($1, $2, $3, $4, $5, 'open', 1)`,
            params: [d.sessionId, d.userId, d.timeLimitMinutes, d.startedAt, d.endsAt],
          },
          {
            text: `INSERT INTO quiz.session_quiz (session_id, quiz_id, position)
                   SELECT $1, e.id::uuid, e.n - 1 FROM jsonb_array_elements_text($2::jsonb) WITH ORDINALITY AS e(id, n)`,
            params: [d.sessionId, JSON.stringify(d.quizIds)],
          },
        ]
      }
      case 'QuizSessionCompleted':
      case 'QuizSessionExpired': {
        const d = event.data
        const completed = event.type === 'QuizSessionCompleted'
        return [
          {
            text: `UPDATE quiz.session SET status = $2, closed_at = $3, late = $4, score = $5, max_score = $6,
                     version = version + 1 WHERE session_id = $1 AND status = 'open'`,
            params: [
              d.sessionId,
              completed ? 'completed' : 'expired',
              completed ? event.data.completedAt : event.data.expiredAt,
              completed ? event.data.late : false,
              d.score,
              d.maxScore,
            ],
          },
        ]
      }
    }
  })
}
