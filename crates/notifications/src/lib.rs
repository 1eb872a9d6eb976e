//! The notifications domain: in-app notifications, delivery of the e-mail outbox, live updates.
//!
//! This crate will own the `notifications` collection (seed section 8) and feed the GraphQL
//! subscriptions served on `/graphql/ws`. Today it delivers e-mail: [`email`] sends identity's
//! outbox over SMTP (or to the log when no SMTP server is configured) and is the one entry point
//! for e-mailing a notification.

pub mod email;
