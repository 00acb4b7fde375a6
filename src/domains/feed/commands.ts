import { defineCommand, signedIn, stateStored, type CommandMeta, type StreamRef } from '../../kernel/index.js'
import {
  CommentIdResult,
  CommentOnPostInput,
  CreatePostInput,
  CreateUserInput,
  FollowResult,
  LikeResult,
  PostIdResult,
  PostInput,
  UserIdResult,
  UserInput,
  type FeedEvent,
} from './messages.js'
import {
  decideComment,
  decideCreatePost,
  decideCreateUser,
  decideDeletePost,
  decideFollow,
  decideLike,
  decideUnfollow,
  decideUnlike,
  type FollowState,
  type PostActionState,
  type UserRow,
} from './rules.js'
import { loadForCreatePost, loadForCreateUser, loadForFollow, loadForPost, persist } from './write-model.js'

const domain = 'feed'
/**
 * The examples run in order, as one caller but where `exampleCallers` names another: the post they
 * like, comment on and delete is created with its id; the user they follow is a second profile, made
 * by a second caller, who posts once. The unfollow runs before the follow (changing nothing), so that
 * the queries' examples find a follow, a follower and a feed with a post in it.
 */
const examplePostId = '0190c0d0-0000-7000-8000-000000000001'
/** The post the delete example deletes: the other examples' post stays for the queries' examples. */
const doomedPostId = '0190c0d0-0000-7000-8000-000000000003'
const exampleUserId = '0190c0d0-0000-7000-8000-000000000002'
/** The examples' caller's own profile: the follower. */
const exampleFollowerId = '0190c0d0-0000-7000-8000-000000000004'
const account = (meta: CommandMeta) => meta.caller?.id ?? ''
/** A user's stream holds its creation and its follows; a post's its creation, likes, comments, deletion. */
const userStream = (user: UserRow | undefined): StreamRef => ({
  id: `user-${user?.userId ?? 'none'}`,
  expectedVersion: user?.version ?? 0,
})
const postStream = (state: PostActionState): StreamRef =>
  state.post.status === 'absent'
    ? { id: 'post-none', expectedVersion: 0 }
    : { id: postTurn(state.post.postId), expectedVersion: state.post.version }
/** A post's stream from its id: the turn a command on the post takes before it locks the post. */
const postTurn = (postId: string) => `post-${postId}`
const persistEvents = (events: readonly FeedEvent[]) => persist(events)

export const createUser = defineCommand({
  domain,
  name: 'create-user',
  summary: "Create the caller's profile: a handle unique ignoring case, a display name, a bio",
  input: CreateUserInput,
  output: UserIdResult,
  access: signedIn(),
  refusals: { 409: ['USER_EXISTS', 'HANDLE_TAKEN', 'USER_ID_TAKEN'] },
  // The second profile is another caller's: the one the follow examples follow.
  examples: [
    { userId: exampleFollowerId, handle: 'kim_minji', displayName: 'Kim Minji', bio: 'Writes about CQRS' },
    { userId: exampleUserId, handle: 'lee_jun', displayName: 'Lee Jun' },
  ],
  exampleCallers: [null, 'tandem-examples-followee'],
  handle: stateStored({
    load: (tx, cmd, meta) => loadForCreateUser(tx, account(meta), cmd.handle, cmd.userId),
    decide: decideCreateUser,
    stream: (cmd, _state, meta) => ({ id: `user-${cmd.userId ?? meta.newId}`, expectedVersion: 0 }),
    persist: persistEvents,
    result: (_events, cmd, _state, meta) => ({ userId: cmd.userId ?? meta.newId }),
  }),
})

export const createPost = defineCommand({
  domain,
  name: 'create-post',
  summary: 'Publish a post of 1 to 500 characters',
  input: CreatePostInput,
  output: PostIdResult,
  access: signedIn(),
  refusals: { 409: ['PROFILE_REQUIRED', 'POST_EXISTS'] },
  examples: [
    { postId: examplePostId, text: 'Hello, feed!' },
    { postId: doomedPostId, text: 'A post soon deleted' },
    { text: 'A third post' },
    { postId: '0190c0d0-0000-7000-8000-000000000005', text: 'Hello from Lee Jun' },
  ],
  // The last is the followed user's: the follower's feed shows it.
  exampleCallers: [null, null, null, 'tandem-examples-followee'],
  handle: stateStored({
    load: (tx, cmd, meta) => loadForCreatePost(tx, account(meta), cmd.postId),
    decide: decideCreatePost,
    stream: (cmd, _state, meta) => ({ id: `post-${cmd.postId ?? meta.newId}`, expectedVersion: 0 }),
    persist: persistEvents,
    result: (_events, cmd, _state, meta) => ({ postId: cmd.postId ?? meta.newId }),
  }),
})

const followHandler = (decide: typeof decideFollow) =>
  stateStored({
    // The follower's stream is named by their profile, read by `load`: every command on it is the
    // account's own, so the account's turn serves.
    turn: (_cmd: { userId: string }, meta) => `feed-account-${account(meta)}`,
    load: (tx, cmd: { userId: string }, meta) => loadForFollow(tx, account(meta), cmd.userId),
    decide,
    stream: (_cmd, state: FollowState) => userStream(state.actor),
    persist: persistEvents,
    result: (events, cmd, state) => ({
      userId: cmd.userId,
      following: events[0]?.type === 'UserFollowed' || (events.length === 0 && state.following),
    }),
  })

export const followUser = defineCommand({
  domain,
  name: 'follow-user',
  summary: 'Follow a user; following someone already followed changes nothing',
  input: UserInput,
  output: FollowResult,
  access: signedIn(),
  refusals: { 404: ['USER_NOT_FOUND'], 409: ['PROFILE_REQUIRED', 'CANNOT_FOLLOW_SELF'] },
  examples: [{ userId: exampleUserId }],
  handle: followHandler(decideFollow),
})

export const unfollowUser = defineCommand({
  domain,
  name: 'unfollow-user',
  summary: 'Stop following a user; unfollowing someone not followed changes nothing',
  input: UserInput,
  output: FollowResult,
  access: signedIn(),
  refusals: { 404: ['USER_NOT_FOUND'], 409: ['PROFILE_REQUIRED', 'CANNOT_FOLLOW_SELF'] },
  examples: [{ userId: exampleUserId }],
  handle: followHandler(decideUnfollow),
})

const likeHandler = (decide: typeof decideLike) =>
  stateStored({
    turn: (cmd: { postId: string }) => postTurn(cmd.postId),
    load: (tx, cmd: { postId: string }, meta) => loadForPost(tx, account(meta), cmd.postId),
    decide,
    stream: (_cmd, state: PostActionState) => postStream(state),
    persist: persistEvents,
    result: (events, cmd, state) => ({
      postId: cmd.postId,
      liked: events[0]?.type === 'PostLiked' || (events.length === 0 && state.liked),
    }),
  })

export const likePost = defineCommand({
  domain,
  name: 'like-post',
  summary: 'Like a post, once per user; liking it again changes nothing',
  input: PostInput,
  output: LikeResult,
  access: signedIn(),
  refusals: { 404: ['POST_NOT_FOUND'], 409: ['PROFILE_REQUIRED'] },
  examples: [{ postId: examplePostId }],
  handle: likeHandler(decideLike),
})

export const unlikePost = defineCommand({
  domain,
  name: 'unlike-post',
  summary: 'Take back a like; unliking what is not liked changes nothing',
  input: PostInput,
  output: LikeResult,
  access: signedIn(),
  refusals: { 404: ['POST_NOT_FOUND'], 409: ['PROFILE_REQUIRED'] },
  examples: [{ postId: examplePostId }],
  handle: likeHandler(decideUnlike),
})

export const commentOnPost = defineCommand({
  domain,
  name: 'comment-on-post',
  summary: 'Comment on a post (1 to 500 characters)',
  input: CommentOnPostInput,
  output: CommentIdResult,
  access: signedIn(),
  refusals: { 404: ['POST_NOT_FOUND'], 409: ['PROFILE_REQUIRED'] },
  examples: [{ postId: examplePostId, text: 'Nice post!' }],
  handle: stateStored({
    turn: (cmd) => postTurn(cmd.postId),
    load: (tx, cmd, meta) => loadForPost(tx, account(meta), cmd.postId),
    decide: decideComment,
    stream: (_cmd, state) => postStream(state),
    persist: persistEvents,
    result: (_events, _cmd, _state, meta) => ({ commentId: meta.newId }),
  }),
})

export const deletePost = defineCommand({
  domain,
  name: 'delete-post',
  summary: 'Delete one of your posts: it leaves every feed and listing',
  input: PostInput,
  output: PostIdResult,
  access: signedIn(),
  refusals: { 404: ['POST_NOT_FOUND'], 409: ['PROFILE_REQUIRED'] },
  examples: [{ postId: doomedPostId }],
  handle: stateStored({
    turn: (cmd) => postTurn(cmd.postId),
    load: (tx, cmd, meta) => loadForPost(tx, account(meta), cmd.postId),
    decide: decideDeletePost,
    stream: (_cmd, state) => postStream(state),
    persist: persistEvents,
    result: (_events, cmd) => ({ postId: cmd.postId }),
  }),
})

/** In the order their examples make a story. */
export const commands = [
  createUser,
  createPost,
  unfollowUser,
  followUser,
  likePost,
  unlikePost,
  commentOnPost,
  deletePost,
]
