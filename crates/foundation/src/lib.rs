//! Shared building blocks that every domain crate of PeerTest Hub uses and that carry no domain logic.
//!
//! What lives here: injectable time ([`clock`]), identifier parsing ([`id`]), exact money
//! ([`money`]), cursor pagination primitives ([`pagination`]), collection creation with validators
//! and indexes ([`collection`]), random token secrets ([`secret`]) and the pacing of transaction retries
//! ([`transaction_retry`]), and the domain events outbox every domain records its changes in
//! ([`events`]), and the in-memory fan-out of live changes by key ([`fanout`]). What deliberately does not:
//! anything that knows about users, jobs or payments, and anything that knows about GraphQL or HTTP.

pub mod batch;
pub mod clock;
pub mod collection;
pub mod error;
pub mod events;
pub mod fanout;
pub mod hot_keys;
pub mod id;
pub mod money;
pub mod pagination;
pub mod secret;
pub mod transaction_retry;

pub use clock::{Clock, ManualClock, SystemClock};
pub use collection::{ensure_collection, CollectionSpec};
pub use error::{CollectionError, ErrorCategory, IdError, MoneyError, PaginationError};
pub use id::parse_object_id;
pub use money::{Currency, Money};
pub use pagination::{
    Cursor, KeysetPage, PageDirection, PageRequest, ValidatedPage, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE,
};
