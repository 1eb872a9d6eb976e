//! What every live-subscription connection (`/graphql/ws` and `/graphql/stream`) shares: the
//! per-user connection cap, the keep-alive period, and the watch that ends a connection when its
//! credentials lapse (access token expired, session revoked, user suspended).
//!
//! The watch re-checks the credential through the same `graphql::authenticate` as every HTTP
//! request, once per keep-alive period, and at once when the user's `account_suspended`
//! notification arrives through the instance's change stream.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bson::oid::ObjectId;
use parking_lot::Mutex;

/// The live-connection settings and the count of open connections per user.
#[derive(Debug, Clone)]
pub struct LiveConnections {
    /// Most connections one user holds open on this instance.
    pub per_user: usize,
    /// Period of keep-alive pings and credential re-checks.
    pub keep_alive: Duration,
    open: Arc<Mutex<HashMap<ObjectId, usize>>>,
}

/// A connection's place under the cap, given back when dropped.
#[derive(Debug)]
pub struct ConnectionSlot {
    user_id: ObjectId,
    open: Arc<Mutex<HashMap<ObjectId, usize>>>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock();
        if let Some(count) = open.get_mut(&self.user_id) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.user_id);
            }
        }
    }
}

impl LiveConnections {
    /// Settings for `per_user` connections each and pings every `keep_alive`.
    pub fn new(per_user: usize, keep_alive: Duration) -> Self {
        Self {
            per_user,
            keep_alive,
            open: Arc::default(),
        }
    }

    /// Takes a slot for `user_id`, or `None` when the user already holds the most.
    pub fn admit(&self, user_id: ObjectId) -> Option<ConnectionSlot> {
        let mut open = self.open.lock();
        let count = open.entry(user_id).or_default();
        if *count >= self.per_user {
            return None;
        }
        *count += 1;
        Some(ConnectionSlot {
            user_id,
            open: self.open.clone(),
        })
    }
}

/// Why a connection's credentials no longer hold, as the client is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lapsed(pub String);

/// Resolves once the credential `bearer` (which authenticated `user_id`, or an API key) stops
/// authenticating: checked every `every`, and at once when the user is told of their suspension.
pub async fn credentials_lapse(
    services: graphql::Services,
    bearer: String,
    user_id: Option<ObjectId>,
    every: Duration,
) -> Lapsed {
    // An API key has no notifications; it listens to a fresh id (`ObjectId::default` is new),
    // which nobody has.
    let user_id = user_id.unwrap_or_default();
    let mut suspension = services.live().subscribe(user_id);
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            change = suspension.next() => {
                match change {
                    Some(notifications::LiveChange::Added(notification))
                        if notification.kind == notifications::NotificationType::AccountSuspended => {}
                    Some(_) => continue,
                    // Dropped for falling behind: keep checking on the interval only.
                    None => suspension = services.live().subscribe(user_id),
                }
            }
        }
        if let graphql::Viewer::Rejected(reason) =
            graphql::authenticate(&services, Some(&bearer)).await
        {
            return Lapsed(reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_holds_at_most_the_cap_and_a_closed_connection_frees_its_slot() {
        let connections = LiveConnections::new(2, Duration::from_secs(15));
        let user = ObjectId::new();
        let first = connections.admit(user).expect("first");
        let _second = connections.admit(user).expect("second");
        assert!(connections.admit(user).is_none());
        assert!(connections.admit(ObjectId::new()).is_some());
        drop(first);
        assert!(connections.admit(user).is_some());
    }
}
