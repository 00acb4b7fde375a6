import { type Domain } from '../../kernel/index.js'
import { commands } from './commands.js'
import { allEvents } from './messages.js'
import { migrations } from './write-model.js'

/**
 * The social feed, its write side: profiles, posts, follows, likes and comments. The read models and
 * the home feed come next (issue 11).
 */
export const feedDomain: Domain = {
  name: 'feed',
  events: allEvents,
  commands,
  queries: [],
  projections: [],
  migrations,
}
