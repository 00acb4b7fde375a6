import { defineEvent, Id, Text } from '../../kernel/index.js'
import Type, { type Static } from 'typebox'

/** Schemas of the feed domain's commands, results and events: one definition each. */

const Time = Type.String({ format: 'date-time', description: 'ISO 8601 time' })
const Handle = Type.String({
  minLength: 3,
  maxLength: 30,
  pattern: '^[A-Za-z0-9_]*$',
  description: '3 to 30 ASCII letters (A-Z, a-z), digits or underscores; unique ignoring case',
})
const PostText = Text(500)
const strict = { additionalProperties: false } as const

export const CreateUserInput = Type.Object(
  {
    userId: Type.Optional(Id('The new profile’s id, chosen by the client (default: a fresh one)')),
    handle: Handle,
    displayName: Text(80),
    bio: Type.Optional(Text(300)),
  },
  strict,
)
export const CreatePostInput = Type.Object(
  {
    postId: Type.Optional(Id('The new post’s id, chosen by the client (default: a fresh one)')),
    text: PostText,
  },
  strict,
)
export const UserInput = Type.Object({ userId: Id() }, strict)
export const PostInput = Type.Object({ postId: Id() }, strict)
export const CommentOnPostInput = Type.Object({ postId: Id(), text: PostText }, strict)

export const UserIdResult = Type.Object({ userId: Id() })
export const PostIdResult = Type.Object({ postId: Id() })
export const CommentIdResult = Type.Object({ commentId: Id() })
export const FollowResult = Type.Object({ userId: Id(), following: Type.Boolean() })
export const LikeResult = Type.Object({ postId: Id(), liked: Type.Boolean() })

export type CreateUser = Static<typeof CreateUserInput>
export type CreatePost = Static<typeof CreatePostInput>
export type UserCommand = Static<typeof UserInput>
export type PostCommand = Static<typeof PostInput>
export type CommentOnPost = Static<typeof CommentOnPostInput>

export const UserCreated = defineEvent(
  'UserCreated',
  Type.Object({
    userId: Id(),
    /** The caller (JWT `sub`) whose profile it is. */
    accountId: Type.String(),
    handle: Type.String(),
    displayName: Type.String(),
    bio: Type.Union([Type.String(), Type.Null()]),
    createdAt: Time,
  }),
)
export const PostCreated = defineEvent(
  'PostCreated',
  Type.Object({ postId: Id(), authorId: Id(), text: Type.String(), createdAt: Time }),
)
export const PostDeleted = defineEvent(
  'PostDeleted',
  Type.Object({ postId: Id(), authorId: Id(), deletedAt: Time }),
)
export const UserFollowed = defineEvent(
  'UserFollowed',
  Type.Object({ followerId: Id(), followeeId: Id(), followedAt: Time }),
)
export const UserUnfollowed = defineEvent(
  'UserUnfollowed',
  Type.Object({ followerId: Id(), followeeId: Id(), unfollowedAt: Time }),
)
export const PostLiked = defineEvent('PostLiked', Type.Object({ postId: Id(), userId: Id(), likedAt: Time }))
export const PostUnliked = defineEvent(
  'PostUnliked',
  Type.Object({ postId: Id(), userId: Id(), unlikedAt: Time }),
)
export const PostCommented = defineEvent(
  'PostCommented',
  Type.Object({ commentId: Id(), postId: Id(), authorId: Id(), text: Type.String(), commentedAt: Time }),
)

export const allEvents = [
  UserCreated,
  PostCreated,
  PostDeleted,
  UserFollowed,
  UserUnfollowed,
  PostLiked,
  PostUnliked,
  PostCommented,
]

export type FeedEvent = ReturnType<(typeof allEvents)[number]['create']>
