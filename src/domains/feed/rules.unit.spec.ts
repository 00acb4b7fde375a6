import { describe, expect, it } from 'vitest'
import type { Caller } from '../../kernel/index.js'
import { deciderSpec } from '../../kernel/testing.js'
import {
  commentOnPost,
  createPost,
  createUser,
  deletePost,
  followUser,
  likePost,
  unfollowUser,
  unlikePost,
} from './commands.js'
import {
  PostCommented,
  PostCreated,
  PostDeleted,
  PostLiked,
  PostUnliked,
  UserCreated,
  UserFollowed,
  UserUnfollowed,
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
  type PostState,
  type UserRow,
} from './rules.js'

const minji: Caller = { id: 'minji', roles: [] }
const now = '2031-03-01T09:00:00.000Z'
const newId = '0190c0d0-0000-7000-8000-0000000000ff'
const minjiId = '0190c0d0-0000-7000-8000-000000000001'
const junId = '0190c0d0-0000-7000-8000-000000000002'
const postId = '0190c0d0-0000-7000-8000-000000000003'
const defaults = { caller: minji, now, newId }

const user = (userId: string, accountId: string, handle: string): UserRow => ({
  userId,
  accountId,
  handle,
  version: 1,
})
const me = user(minjiId, 'minji', 'kim_minji')
const jun = user(junId, 'jun', 'lee_jun')
const post = (overrides: Partial<Exclude<PostState, { status: 'absent' }>> = {}): PostState => ({
  status: 'published',
  postId,
  authorId: minjiId,
  version: 1,
  ...overrides,
})
const absentPost: PostState = { status: 'absent' }

describe('create-user', () => {
  const given = deciderSpec(decideCreateUser, { ...defaults, command: createUser })
  const input = { handle: 'Kim_Minji', displayName: 'Kim Minji' }
  it('when the caller has no profile and the handle is free: the profile is created, as spelt', () => {
    given({ existing: undefined, sameHandle: undefined })
      .when({ ...input, bio: 'Hi' })
      .then(
        UserCreated.create({
          userId: newId,
          accountId: 'minji',
          handle: 'Kim_Minji',
          displayName: 'Kim Minji',
          bio: 'Hi',
          createdAt: now,
        }),
      )
  })
  it('when the caller has a profile: refused with 409 USER_EXISTS', () => {
    given({ existing: me, sameHandle: undefined }).when(input).thenRefused('USER_EXISTS', { status: 409 })
  })
  it('takes the id the client chose, unless another profile has it: 409 USER_ID_TAKEN', () => {
    const chosen = { ...input, userId: junId.toUpperCase() }
    given({ existing: undefined, sameHandle: undefined })
      .when(chosen)
      .then(
        UserCreated.create({
          userId: junId,
          accountId: 'minji',
          handle: 'Kim_Minji',
          displayName: 'Kim Minji',
          bio: null,
          createdAt: now,
        }),
      )
    given({ existing: undefined, sameHandle: undefined, idTaken: true })
      .when(chosen)
      .thenRefused('USER_ID_TAKEN', { status: 409 })
  })
  it('when another profile holds the handle in any case: refused with 409 HANDLE_TAKEN', () => {
    given({ existing: undefined, sameHandle: user(junId, 'jun', 'kim_MINJI') })
      .when(input)
      .thenRefused('HANDLE_TAKEN', { status: 409 })
  })
})

describe('create-post', () => {
  const given = deciderSpec(decideCreatePost, { ...defaults, command: createPost })
  it('when the caller has a profile: the post is published under the fresh id, or the one chosen', () => {
    const created = (id: string) =>
      PostCreated.create({ postId: id, authorId: minjiId, text: 'Hello', createdAt: now })
    given({ actor: me, idTaken: false }).when({ text: 'Hello' }).then(created(newId))
    given({ actor: me, idTaken: false })
      .when({ text: 'Hello', postId: postId.toUpperCase() })
      .then(created(postId))
  })
  it('when the caller has no profile: refused with 409 PROFILE_REQUIRED', () => {
    given({ actor: undefined, idTaken: false })
      .when({ text: 'Hello' })
      .thenRefused('PROFILE_REQUIRED', { status: 409 })
  })
  it('when the chosen id is taken: refused with 409 POST_EXISTS', () => {
    given({ actor: me, idTaken: true })
      .when({ text: 'Hello', postId })
      .thenRefused('POST_EXISTS', { status: 409 })
  })
})

describe('follow-user and unfollow-user', () => {
  const follow = deciderSpec(decideFollow, { ...defaults, command: followUser })
  const unfollow = deciderSpec(decideUnfollow, { ...defaults, command: unfollowUser })
  const followed = UserFollowed.create({ followerId: minjiId, followeeId: junId, followedAt: now })
  const unfollowed = UserUnfollowed.create({ followerId: minjiId, followeeId: junId, unfollowedAt: now })
  describe('when the caller does not follow the user', () => {
    const state = { actor: me, target: jun, following: false }
    it('follow: the caller follows them (the id in any case)', () => {
      follow(state).when({ userId: junId.toUpperCase() }).then(followed)
    })
    it('unfollow: nothing to do', () => {
      unfollow(state).when({ userId: junId }).then([])
    })
  })
  describe('when the caller follows the user', () => {
    const state = { actor: me, target: jun, following: true }
    it('follow: nothing to do', () => {
      follow(state).when({ userId: junId }).then([])
    })
    it('unfollow: the caller stops following them', () => {
      unfollow(state).when({ userId: junId }).then(unfollowed)
    })
  })
  it('refuses the caller’s own id with 409 CANNOT_FOLLOW_SELF', () => {
    for (const given of [follow, unfollow]) {
      given({ actor: me, target: me, following: false })
        .when({ userId: minjiId })
        .thenRefused('CANNOT_FOLLOW_SELF', { status: 409 })
    }
  })
  it('refuses an unknown user with 404 USER_NOT_FOUND', () => {
    for (const given of [follow, unfollow]) {
      given({ actor: me, target: undefined, following: false })
        .when({ userId: junId })
        .thenRefused('USER_NOT_FOUND', { status: 404 })
    }
  })
  it('refuses a caller with no profile with 409 PROFILE_REQUIRED', () => {
    for (const given of [follow, unfollow]) {
      given({ actor: undefined, target: jun, following: false })
        .when({ userId: junId })
        .thenRefused('PROFILE_REQUIRED', { status: 409 })
    }
  })
})

describe('like-post and unlike-post', () => {
  const like = deciderSpec(decideLike, { ...defaults, command: likePost })
  const unlike = deciderSpec(decideUnlike, { ...defaults, command: unlikePost })
  describe('when the caller has not liked the post', () => {
    const state = { actor: me, post: post(), liked: false }
    it('like: the caller likes it', () => {
      like(state)
        .when({ postId })
        .then(PostLiked.create({ postId, userId: minjiId, likedAt: now }))
    })
    it('unlike: nothing to do', () => {
      unlike(state).when({ postId }).then([])
    })
  })
  describe('when the caller has liked the post', () => {
    const state = { actor: me, post: post(), liked: true }
    it('like: nothing to do', () => {
      like(state).when({ postId }).then([])
    })
    it('unlike: the like is taken back', () => {
      unlike(state)
        .when({ postId })
        .then(PostUnliked.create({ postId, userId: minjiId, unlikedAt: now }))
    })
  })
  it('refuses a post that does not exist, or was deleted, with 404 POST_NOT_FOUND', () => {
    for (const given of [like, unlike]) {
      for (const state of [absentPost, post({ status: 'deleted' })]) {
        given({ actor: me, post: state, liked: true })
          .when({ postId })
          .thenRefused('POST_NOT_FOUND', { status: 404 })
      }
    }
  })
  it('refuses a caller with no profile with 409 PROFILE_REQUIRED', () => {
    for (const given of [like, unlike]) {
      given({ actor: undefined, post: post(), liked: false }).when({ postId }).thenRefused('PROFILE_REQUIRED')
    }
  })
})

describe('comment-on-post', () => {
  const given = deciderSpec(decideComment, { ...defaults, command: commentOnPost })
  it('when the post is published: the comment is added under the fresh id', () => {
    given({ actor: me, post: post({ authorId: junId }), liked: false })
      .when({ postId, text: 'Nice' })
      .then(
        PostCommented.create({ commentId: newId, postId, authorId: minjiId, text: 'Nice', commentedAt: now }),
      )
  })
  it('refuses a post that does not exist, or was deleted, with 404 POST_NOT_FOUND', () => {
    for (const state of [absentPost, post({ status: 'deleted' })]) {
      given({ actor: me, post: state, liked: false })
        .when({ postId, text: 'Nice' })
        .thenRefused('POST_NOT_FOUND')
    }
  })
  it('refuses a caller with no profile with 409 PROFILE_REQUIRED', () => {
    given({ actor: undefined, post: post(), liked: false })
      .when({ postId, text: 'Nice' })
      .thenRefused('PROFILE_REQUIRED')
  })
})

describe('delete-post', () => {
  const given = deciderSpec(decideDeletePost, { ...defaults, command: deletePost })
  it('when the post is the caller’s: it is deleted', () => {
    given({ actor: me, post: post(), liked: false })
      .when({ postId })
      .then(PostDeleted.create({ postId, authorId: minjiId, deletedAt: now }))
  })
  it('when the post is someone else’s: refused with 403 FORBIDDEN', () => {
    given({ actor: me, post: post({ authorId: junId }), liked: false })
      .when({ postId })
      .thenRefused('FORBIDDEN', { status: 403 })
  })
  it('refuses a post that does not exist, or was deleted already, with 404 POST_NOT_FOUND', () => {
    for (const state of [absentPost, post({ status: 'deleted' })]) {
      given({ actor: me, post: state, liked: false }).when({ postId }).thenRefused('POST_NOT_FOUND')
    }
  })
  it('refuses a caller with no profile with 409 PROFILE_REQUIRED', () => {
    given({ actor: undefined, post: post(), liked: false }).when({ postId }).thenRefused('PROFILE_REQUIRED')
  })
})

describe('the messages’ limits', () => {
  it('takes handles of 3 to 30 letters, digits and underscores, texts of up to 500 characters', () => {
    const given = deciderSpec(decideCreateUser, { ...defaults, command: createUser })
    const free = { existing: undefined, sameHandle: undefined }
    for (const handle of ['ab', 'a'.repeat(31), 'has space', 'dash-ed', 'émile']) {
      expect(() => given(free).when({ handle, displayName: 'X' }).then([]), handle).toThrow(/does not fit/)
    }
    expect(() => given(free).when({ handle: 'abc', displayName: ' ' }).then([])).toThrow(/does not fit/)
    expect(() =>
      given(free)
        .when({ handle: 'abc', displayName: 'x'.repeat(81) })
        .then([]),
    ).toThrow(/does not fit/)
    const post = deciderSpec(decideCreatePost, { ...defaults, command: createPost })
    expect(() =>
      post({ actor: me, idTaken: false })
        .when({ text: 'x'.repeat(501) })
        .then([]),
    ).toThrow(/does not fit/)
    post({ actor: me, idTaken: false })
      .when({ text: 'x'.repeat(500) })
      .then(PostCreated.create({ postId: newId, authorId: minjiId, text: 'x'.repeat(500), createdAt: now }))
  })
})
