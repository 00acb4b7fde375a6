import { defineEvent, Id, Label, Text } from '../../kernel/index.js'
import Type, { type Static } from 'typebox'

/** Schemas of the study domain's commands, results and events: one definition each. */

const Time = Type.String({ format: 'date-time', description: 'ISO 8601 time' })
const Day = Type.String({ format: 'date', description: 'A day, YYYY-MM-DD (UTC)' })
const Name = Text(100)
const Description = Type.String({ maxLength: 2000 })
export const Category = Label(50)
export const DifficultyLevel = Type.Enum(['beginner', 'intermediate', 'advanced'])
export const SummaryStyle = Type.Enum(['brief', 'detailed'])
export const SummaryStatus = Type.Enum(['pending', 'ready', 'failed'])
/** A topic is kept once: taken in NFC, trimmed (`Café` typed either way, ` x` and `x`, are one). */
const Topic = Label(200)
const strict = { additionalProperties: false } as const

export const CreateSubjectInput = Type.Object(
  {
    subjectId: Type.Optional(Id()),
    name: Name,
    description: Type.Optional(Description),
    category: Category,
    difficultyLevel: DifficultyLevel,
  },
  strict,
)
export const UpdateSubjectInput = Type.Object(
  {
    subjectId: Id(),
    name: Type.Optional(Name),
    description: Type.Optional(Type.Union([Description, Type.Null()])),
    category: Type.Optional(Category),
    difficultyLevel: Type.Optional(DifficultyLevel),
  },
  strict,
)
export const GenerateSummaryInput = Type.Object(
  {
    summaryId: Type.Optional(Id()),
    subjectId: Id(),
    content: Text(100_000, 'The text to summarize, 1 to 100,000 characters'),
    style: Type.Optional(SummaryStyle),
  },
  strict,
)
export const UpdateStudyProgressInput = Type.Object(
  {
    subjectId: Id(),
    minutesStudied: Type.Integer({ minimum: 1, maximum: 1440 }),
    completedTopics: Type.Optional(Type.Array(Topic, { maxItems: 100 })),
    progressPercent: Type.Integer({ minimum: 0, maximum: 100 }),
    reset: Type.Optional(
      Type.Boolean({
        description: 'Allow a lower progress percentage; the completed topics given then replace the list',
      }),
    ),
    studiedAt: Type.Optional(Type.String({ format: 'date-time', description: 'When (default: now)' })),
  },
  strict,
)
export const CreateStudyGoalInput = Type.Object(
  {
    goalId: Type.Optional(Id()),
    subjectId: Type.Optional(Id()),
    title: Text(200),
    targetMinutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
    targetDate: Type.Optional(Day),
  },
  strict,
)
/** Sent by the summarizer processor only (role `system`). */
export const RecordSummaryInput = Type.Object(
  {
    summaryId: Id(),
    outcome: Type.Enum(['ready', 'failed']),
    // Text, not blank: a summary of spaces is no summary (the processor records the refusal as a failure).
    summary: Type.Optional(Text(100_000)),
    reason: Type.Optional(Text(500)),
    provider: Type.Optional(Text(50)),
  },
  strict,
)
/** Fired by the summary's deadline timer: a summary still pending then is failed, never left pending. */
export const ExpireSummaryInput = Type.Object({ summaryId: Id() }, strict)

export const SubjectIdResult = Type.Object({ subjectId: Id() })
export const SummaryRequestedResult = Type.Object({ summaryId: Id(), status: Type.Literal('pending') })
export const ProgressResult = Type.Object({
  subjectId: Id(),
  progressPercent: Type.Integer(),
  totalMinutes: Type.Integer(),
  goalsMet: Type.Array(Id()),
})
export const GoalIdResult = Type.Object({ goalId: Id() })
export const SummaryOutcomeResult = Type.Object({ summaryId: Id(), status: SummaryStatus })

export type CreateSubject = Static<typeof CreateSubjectInput>
export type UpdateSubject = Static<typeof UpdateSubjectInput>
export type GenerateSummary = Static<typeof GenerateSummaryInput>
export type UpdateStudyProgress = Static<typeof UpdateStudyProgressInput>
export type CreateStudyGoal = Static<typeof CreateStudyGoalInput>
export type RecordSummary = Static<typeof RecordSummaryInput>
export type ExpireSummary = Static<typeof ExpireSummaryInput>
export type Difficulty = Static<typeof DifficultyLevel>
export type Style = Static<typeof SummaryStyle>

const Fields = {
  name: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]),
  category: Type.String(),
  difficultyLevel: DifficultyLevel,
}

export const SubjectCreated = defineEvent(
  'SubjectCreated',
  Type.Object({ subjectId: Id(), learnerId: Type.String(), createdAt: Time, ...Fields }),
)
export const SubjectUpdated = defineEvent(
  'SubjectUpdated',
  Type.Object({
    subjectId: Id(),
    learnerId: Type.String(),
    changes: Type.Partial(Type.Object(Fields)),
    updatedAt: Time,
  }),
)
export const StudyProgressUpdated = defineEvent(
  'StudyProgressUpdated',
  Type.Object({
    subjectId: Id(),
    learnerId: Type.String(),
    sessionId: Id(),
    minutesStudied: Type.Integer(),
    /** The day studied (UTC): analytics count minutes per day by it. */
    day: Day,
    studiedAt: Time,
    progressPercent: Type.Integer(),
    previousPercent: Type.Integer(),
    totalMinutes: Type.Integer(),
    /** The subject's completed topics after the update, in order of completion. */
    completedTopics: Type.Array(Type.String()),
    reset: Type.Boolean(),
    recordedAt: Time,
  }),
)
export const StudyGoalCreated = defineEvent(
  'StudyGoalCreated',
  Type.Object({
    goalId: Id(),
    learnerId: Type.String(),
    subjectId: Type.Union([Id(), Type.Null()]),
    title: Type.String(),
    targetMinutes: Type.Union([Type.Integer(), Type.Null()]),
    targetDate: Type.Union([Day, Type.Null()]),
    createdAt: Time,
  }),
)
export const StudyGoalMet = defineEvent(
  'StudyGoalMet',
  Type.Object({
    goalId: Id(),
    learnerId: Type.String(),
    subjectId: Type.Union([Id(), Type.Null()]),
    minutesDone: Type.Integer(),
    metAt: Time,
  }),
)
export const SummaryRequested = defineEvent(
  'SummaryRequested',
  Type.Object({
    summaryId: Id(),
    subjectId: Id(),
    learnerId: Type.String(),
    style: SummaryStyle,
    /** The text itself: the processor summarizes it from the log, the audit trail keeps it. */
    content: Type.String(),
    requestedAt: Time,
  }),
)
export const SummaryGenerated = defineEvent(
  'SummaryGenerated',
  Type.Object({
    summaryId: Id(),
    subjectId: Id(),
    learnerId: Type.String(),
    summary: Type.String(),
    provider: Type.String(),
    generatedAt: Time,
  }),
)
export const SummaryFailed = defineEvent(
  'SummaryFailed',
  Type.Object({
    summaryId: Id(),
    subjectId: Id(),
    learnerId: Type.String(),
    reason: Type.String(),
    failedAt: Time,
  }),
)

export const allEvents = [
  SubjectCreated,
  SubjectUpdated,
  StudyProgressUpdated,
  StudyGoalCreated,
  StudyGoalMet,
  SummaryRequested,
  SummaryGenerated,
  SummaryFailed,
]

export type StudyEvent = ReturnType<(typeof allEvents)[number]['create']>

/** A text's length as its schema's limits count it: in characters (code points), not UTF-16 units. */
export function characters(text: string): number {
  let n = 0
  for (const _ of text) n++
  return n
}
