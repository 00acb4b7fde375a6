import { type Domain } from '../../kernel/index.js'
import { commands } from './commands.js'
import { allEvents } from './messages.js'
import { migrations } from './write-model.js'
import { getPost, getPostComments, getUserPosts } from './projections/post-queries.js'
import { postsProjection } from './projections/posts.js'
import { getFollowers, getFollowing, getUser } from './projections/profile-queries.js'
import { profilesProjection } from './projections/profiles.js'
import { getMyFeed } from './projections/feed-queries.js'
import { timelinesProjection } from './projections/timelines.js'

/**
 * The social feed: profiles, posts, follows, likes and comments, and their read models (profiles
 * with follow lists, posts with comments) and the home feed, push mode so far (issue 11).
 */
export const feedDomain: Domain = {
  name: 'feed',
  events: allEvents,
  commands,
  queries: [getUserPosts, getPost, getPostComments, getUser, getFollowers, getFollowing, getMyFeed],
  projections: [profilesProjection, postsProjection, timelinesProjection],
  migrations,
}
