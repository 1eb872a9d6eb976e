//! The notifications seam: trust tells what happened (`rating_received`, later
//! `dispute_update`) after it committed, and the notifications crate will deliver it. Until that
//! issue lands [`NoTrustEvents`] is wired: it delivers nothing (there is no fake delivery).

use std::fmt::Debug;

use crate::rating::Rating;

/// Receives trust's events after they are committed.
pub trait TrustEvents: Send + Sync + Debug {
    /// `rating` has just become visible to its rated user (seed event `rating_received`).
    fn rating_received(&self, rating: &Rating);
}

/// No notifications component yet: events are dropped.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTrustEvents;

impl TrustEvents for NoTrustEvents {
    fn rating_received(&self, _rating: &Rating) {}
}
