import { type Domain } from '../../kernel/index.js'
import { benchMix } from './bench.js'
import { commands } from './commands.js'
import { demoCallers, demoExamples, seedDemo } from './demo.js'
import { allEvents } from './messages.js'
import { migrations } from './write-model.js'
import { getPost, getPostComments, getUserPosts } from './projections/post-queries.js'
import { postsProjection } from './projections/posts.js'
import { getFollowers, getFollowing, getUser } from './projections/profile-queries.js'
import { profilesProjection } from './projections/profiles.js'
import { defineGetMyFeed } from './projections/feed-queries.js'
import { feedModes, timelinesProjection, type FeedMode, type FeedSettings } from './projections/timelines.js'

/**
 * The social feed: profiles, posts, follows, likes and comments, their read models (profiles with
 * follow lists, posts with comments) and the home feed, built push, pull or hybrid (FEED_MODE).
 */
export function createFeedDomain(settings: FeedSettings): Domain {
  const getMyFeed = defineGetMyFeed(settings)
  return {
    name: 'feed',
    events: allEvents,
    commands,
    queries: [getUserPosts, getPost, getPostComments, getUser, getFollowers, getFollowing, getMyFeed],
    projections: [profilesProjection, postsProjection, timelinesProjection(settings)],
    migrations,
    demoCallers,
    seedDemo,
    demoExamples: demoExamples(getMyFeed),
    benchMix: benchMix(getMyFeed),
  }
}

export const defaultFeedSettings: FeedSettings = { mode: 'hybrid', pullAbove: 10_000 }
const maxPullAbove = 100_000_000

/** The settings the environment chooses; a bad value falls back here and is refused at start. */
export function feedSettingsFrom(env: NodeJS.ProcessEnv): FeedSettings {
  const mode = env.FEED_MODE?.trim() as FeedMode
  const above = Number(env.FEED_PULL_ABOVE?.trim() || NaN)
  return {
    mode: feedModes.includes(mode) ? mode : defaultFeedSettings.mode,
    pullAbove: Number.isInteger(above) && above >= 0 ? above : defaultFeedSettings.pullAbove,
  }
}

export const feedDomain: Domain = {
  ...createFeedDomain(feedSettingsFrom(process.env)),
  settings: [
    {
      name: 'FEED_MODE',
      text: 'How home feeds are built: push (fan-out on write), pull (merge on read) or hybrid',
      default: defaultFeedSettings.mode,
      values: feedModes,
    },
    {
      name: 'FEED_PULL_ABOVE',
      text: 'Hybrid feeds: authors with more followers than this are merged at read time, not pushed',
      default: String(defaultFeedSettings.pullAbove),
      integer: { min: 0, max: maxPullAbove },
    },
  ],
}
