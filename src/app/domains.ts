import type { Domain } from './domain.js'
import { eventsDomain } from '../domains/events/index.js'

/** Every domain this build serves. */
export const domains: readonly Domain[] = [eventsDomain]
