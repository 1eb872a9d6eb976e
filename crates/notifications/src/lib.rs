//! The notifications domain: in-app notifications, delivery of the e-mail outbox, live updates.
//!
//! This crate will own the `notifications` collection (seed section 8), deliver the messages that
//! identity and the other domains write to their outbox, and feed the GraphQL subscriptions served
//! on `/graphql/ws`.
//!
//! It holds no code yet: the notifications issue fills it.
