import { type Domain } from '../../kernel/index.js'
import { benchMix } from './bench.js'
import { commands } from './commands.js'
import { demoCallers, demoExamples, seedDemo } from './demo.js'
import { guideRoutes } from './guide-api.js'
import { allEvents } from './messages.js'
import { summaryProcessor } from './processors/summaries.js'
import { analyticsProjection, getStudyAnalytics } from './projections/analytics.js'
import {
  getStudyGoals,
  getStudyProgress,
  getSubjectDetail,
  getSubjects,
} from './projections/subject-queries.js'
import { subjectsProjection } from './projections/subjects.js'
import { getStudySummaries, summariesProjection } from './projections/summaries.js'
import { summarizerFor, summarizerNames, type Summarizer } from './summarizer.js'
import { migrations } from './write-model.js'

/**
 * StudyMate's study app: subjects, study progress and goals, summaries written by a processor,
 * analytics, and the guide's own `/api/cqrs/…` paths. The summarizer is chosen by `STUDY_SUMMARIZER`
 * (default `local`, the only provider today).
 */
export function createStudyDomain(summarizer: Summarizer): Domain {
  return {
    name: 'study',
    events: allEvents,
    commands,
    queries: [
      getSubjects,
      getSubjectDetail,
      getStudyGoals,
      getStudySummaries,
      getStudyProgress,
      getStudyAnalytics,
    ],
    projections: [subjectsProjection, summariesProjection, analyticsProjection],
    processors: [summaryProcessor(summarizer)],
    migrations,
    routes: guideRoutes,
    demoCallers,
    seedDemo,
    demoExamples,
    benchMix,
  }
}

/** The provider `STUDY_SUMMARIZER` names, chosen at first use (Tandem checks the name at start). */
let chosen: Summarizer | undefined
const configured = () => (chosen ??= summarizerFor(process.env.STUDY_SUMMARIZER?.trim() || 'local'))

export const studyDomain: Domain = {
  ...createStudyDomain({
    get name() {
      return configured().name
    },
    summarize: (request) => configured().summarize(request),
  }),
  settings: [
    {
      name: 'STUDY_SUMMARIZER',
      text: `Study summaries' provider: ${summarizerNames.join(', ')}`,
      default: 'local',
      values: summarizerNames,
    },
  ],
}
