import { ConflictError, ForbiddenError, NotFoundError, type CommandMeta } from '../../kernel/index.js'
import {
  PostCommented,
  PostCreated,
  PostDeleted,
  PostLiked,
  PostUnliked,
  UserCreated,
  UserFollowed,
  UserUnfollowed,
  type CommentOnPost,
  type CreatePost,
  type CreateUser,
  type FeedEvent,
  type PostCommand,
  type UserCommand,
} from './messages.js'

/**
 * The business rules of the social feed's write side: pure functions from (command, state) to events.
 * A profile belongs to the caller's account (the JWT `sub`) and has an id of its own, a UUID, which
 * is what follows, posts, likes and comments name.
 */

export interface UserRow {
  userId: string
  accountId: string
  handle: string
  /** The version of the user's stream: creation, then each follow and unfollow by the user. */
  version: number
}

export interface PostRow {
  postId: string
  authorId: string
  /** The version of the post's stream: creation, likes, unlikes, comments, deletion. */
  version: number
}

export type PostState = { status: 'absent' } | ({ status: 'published' | 'deleted' } & PostRow)

export const userNotFound = () => new NotFoundError('USER_NOT_FOUND', 'User not found')
export const postNotFound = () => new NotFoundError('POST_NOT_FOUND', 'Post not found')

/** The caller's profile, which every command but create-user needs. */
export function actorOf(actor: UserRow | undefined): UserRow {
  if (!actor) throw new ConflictError('PROFILE_REQUIRED', 'Profile required', 'Create your profile first')
  return actor
}

function published(post: PostState): PostRow {
  if (post.status !== 'published') throw postNotFound()
  return post
}

export interface CreateUserState {
  /** The caller's profile, if it has one. */
  existing: UserRow | undefined
  /** The profile whose handle equals the one asked for, ignoring case. */
  sameHandle: UserRow | undefined
  /** Whether another profile has the id asked for. */
  idTaken?: boolean
}

export function decideCreateUser(cmd: CreateUser, state: CreateUserState, meta: CommandMeta): FeedEvent[] {
  if (state.existing) {
    throw new ConflictError('USER_EXISTS', 'Profile exists', `Your profile is @${state.existing.handle}`)
  }
  if (state.sameHandle) {
    throw new ConflictError('HANDLE_TAKEN', 'Handle taken', `@${cmd.handle} is taken`)
  }
  if (state.idTaken) throw new ConflictError('USER_ID_TAKEN', 'Profile id taken', `${cmd.userId} is taken`)
  return [
    UserCreated.create({
      userId: cmd.userId ?? meta.newId,
      accountId: meta.caller?.id ?? '',
      handle: cmd.handle,
      displayName: cmd.displayName,
      bio: cmd.bio ?? null,
      createdAt: meta.now.toISOString(),
    }),
  ]
}

export interface CreatePostState {
  actor: UserRow | undefined
  /** Whether a post of the id the client chose exists already. */
  idTaken: boolean
}

export function decideCreatePost(cmd: CreatePost, state: CreatePostState, meta: CommandMeta): FeedEvent[] {
  const author = actorOf(state.actor)
  if (state.idTaken) throw new ConflictError('POST_EXISTS', 'Post exists', `Post ${cmd.postId} exists`)
  return [
    PostCreated.create({
      postId: cmd.postId ?? meta.newId,
      authorId: author.userId,
      text: cmd.text,
      createdAt: meta.now.toISOString(),
    }),
  ]
}

export interface FollowState {
  actor: UserRow | undefined
  /** The user named by the command. */
  target: UserRow | undefined
  /** Whether the actor follows the target now. */
  following: boolean
}

function followee(cmd: UserCommand, state: FollowState): { actor: UserRow; target: UserRow } {
  const actor = actorOf(state.actor)
  if (cmd.userId === actor.userId) {
    throw new ConflictError('CANNOT_FOLLOW_SELF', 'Cannot follow yourself', 'A user follows other users only')
  }
  if (!state.target) throw userNotFound()
  return { actor, target: state.target }
}

/** Following someone already followed changes nothing. */
export function decideFollow(cmd: UserCommand, state: FollowState, meta: CommandMeta): FeedEvent[] {
  const { actor, target } = followee(cmd, state)
  if (state.following) return []
  return [
    UserFollowed.create({
      followerId: actor.userId,
      followeeId: target.userId,
      followedAt: meta.now.toISOString(),
    }),
  ]
}

/** Unfollowing someone not followed changes nothing. */
export function decideUnfollow(cmd: UserCommand, state: FollowState, meta: CommandMeta): FeedEvent[] {
  const { actor, target } = followee(cmd, state)
  if (!state.following) return []
  return [
    UserUnfollowed.create({
      followerId: actor.userId,
      followeeId: target.userId,
      unfollowedAt: meta.now.toISOString(),
    }),
  ]
}

export interface PostActionState {
  actor: UserRow | undefined
  post: PostState
  /** Whether the actor likes the post now. */
  liked: boolean
}

/** Liking a post already liked changes nothing. */
export function decideLike(_cmd: PostCommand, state: PostActionState, meta: CommandMeta): FeedEvent[] {
  const actor = actorOf(state.actor)
  const post = published(state.post)
  if (state.liked) return []
  return [PostLiked.create({ postId: post.postId, userId: actor.userId, likedAt: meta.now.toISOString() })]
}

/** Unliking a post not liked changes nothing. */
export function decideUnlike(_cmd: PostCommand, state: PostActionState, meta: CommandMeta): FeedEvent[] {
  const actor = actorOf(state.actor)
  const post = published(state.post)
  if (!state.liked) return []
  return [
    PostUnliked.create({ postId: post.postId, userId: actor.userId, unlikedAt: meta.now.toISOString() }),
  ]
}

export function decideComment(cmd: CommentOnPost, state: PostActionState, meta: CommandMeta): FeedEvent[] {
  const actor = actorOf(state.actor)
  const post = published(state.post)
  return [
    PostCommented.create({
      commentId: meta.newId,
      postId: post.postId,
      authorId: actor.userId,
      text: cmd.text,
      commentedAt: meta.now.toISOString(),
    }),
  ]
}

/** Only its author deletes a post; it is kept, marked deleted, and leaves every feed and listing. */
export function decideDeletePost(_cmd: PostCommand, state: PostActionState, meta: CommandMeta): FeedEvent[] {
  const actor = actorOf(state.actor)
  const post = published(state.post)
  if (post.authorId !== actor.userId) throw new ForbiddenError('Only its author may delete a post')
  return [
    PostDeleted.create({ postId: post.postId, authorId: actor.userId, deletedAt: meta.now.toISOString() }),
  ]
}
