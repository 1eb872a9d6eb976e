//! The notifications domain: in-app notifications made from the domain events every domain
//! records in its transactions (`foundation::events`), their live fan-out to subscribers, and
//! (in `email`, the e-mail issue's part) their delivery by e-mail.
//!
//! It owns the `notifications`, `notification_sequences` and `change_stream_resume_tokens`
//! collections and consumes `domain_events` through foundation's API. It depends on no other
//! domain: whom an organization's event is for and what each person wants come through the
//! [`RecipientDirectory`] seam, which the gateway implements with identity.

pub mod email;
pub mod error;
pub mod kind;
pub mod live;
pub mod service;

pub use error::NotificationError;
pub use kind::{Channel, NotificationType, Priority, NOTIFICATION_TYPES};
pub use live::{LiveChange, LiveNotifications, LiveSubscription};
pub use service::{
    Notification, NotificationPage, NotificationService, NotificationSettings, Preference,
    RecipientDirectory,
};
