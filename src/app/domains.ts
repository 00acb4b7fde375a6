import type { Domain } from './domain.js'
import { cardsDomain } from '../domains/cards/index.js'
import { eventsDomain } from '../domains/events/index.js'
import { feedDomain } from '../domains/feed/index.js'
import { procurementDomain } from '../domains/procurement/index.js'
import { quizDomain } from '../domains/quiz/index.js'
import { studyDomain } from '../domains/study/index.js'

/** Every domain this build serves. */
export const domains: readonly Domain[] = [
  eventsDomain,
  studyDomain,
  quizDomain,
  feedDomain,
  procurementDomain,
  cardsDomain,
]
