//! The `Subscription` root: `notificationAdded`, `unreadNotificationCountChanged` and
//! `jobChanged`. They listen to the instance's one change stream on notifications
//! (`notifications::LiveNotifications`) and on jobs (`marketplace::JobChanges`), never a stream
//! of their own.
//!
//! `notificationAdded(after:)` has no gap and no duplicate at the seam between replay and live:
//! it registers for live changes FIRST, then replays from the store what follows the cursor, and
//! passes on a live notification only when its sequence is past the last one sent; a jump in the
//! sequence is filled from the store before going on.

use std::collections::VecDeque;

use async_graphql::{Context, Subscription, ID};
use bson::oid::ObjectId;
use futures_util::stream::{self, BoxStream};
use futures_util::StreamExt;
use notifications::{LiveChange, LiveSubscription, NotificationService};

use super::{decode_sequence_cursor, recipient, services, Notification};
use crate::error::{ApiError, ApiResult};
use crate::marketplace_api::access::{actor, actor_of};
use crate::marketplace_api::jobs::visible_job;
use crate::marketplace_api::types::Job;
use crate::relay::{GlobalId, NodeType};
use crate::viewer::viewer;
use marketplace::visibility::job_visible;

/// Notifications read from the store per query while replaying.
const REPLAY_BATCH: i64 = 100;

/// Live updates, over `/graphql/ws` (graphql-transport-ws and graphql-ws) and
/// `/graphql/stream` (GraphQL over Server-Sent Events).
#[derive(Default)]
pub struct SubscriptionRoot;

struct Added {
    service: NotificationService,
    user_id: ObjectId,
    last: i64,
    pending: VecDeque<notifications::Notification>,
    /// Whether the store may hold more after `last` than `pending` holds.
    more: bool,
    live: LiveSubscription,
}

impl Added {
    async fn refill(&mut self) -> ApiResult<()> {
        let batch = self
            .service
            .after(self.user_id, self.last, REPLAY_BATCH)
            .await?;
        self.more = batch.len() as i64 == REPLAY_BATCH;
        self.pending.extend(batch);
        Ok(())
    }

    async fn next(mut self) -> Option<(ApiResult<Notification>, Self)> {
        loop {
            while let Some(notification) = self.pending.pop_front() {
                if notification.sequence > self.last {
                    self.last = notification.sequence;
                    return Some((Ok(Notification(notification)), self));
                }
            }
            if self.more {
                if let Err(error) = self.refill().await {
                    return Some((Err(error), self));
                }
                continue;
            }
            match self.live.next().await? {
                LiveChange::Added(notification) if notification.sequence > self.last => {
                    if notification.sequence == self.last + 1 {
                        self.pending.push_back((*notification).clone());
                    } else if let Err(error) = self.refill().await {
                        // Something committed between the last one sent and this one: the
                        // store has it, in order.
                        return Some((Err(error), self));
                    }
                }
                _ => {}
            }
        }
    }
}

struct Watched {
    services: crate::Services,
    live: marketplace::JobSubscription,
    actor: marketplace::Actor,
    user_id: Option<ObjectId>,
    job_id: ObjectId,
    ended: bool,
}

impl Watched {
    /// Who the viewer is now: a user's role and organization are read again for every change
    /// (an API key keeps the actor it subscribed with; a revoked key closes the connection).
    async fn current_actor(&self) -> ApiResult<marketplace::Actor> {
        let Some(user_id) = self.user_id else {
            return Ok(self.actor.clone());
        };
        let record = self
            .services
            .identity()
            .user(user_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("job not found".to_string()))?;
        let mut actor = actor_of(&record);
        actor.organization_rules = self.actor.organization_rules;
        Ok(actor)
    }

    async fn next(mut self) -> Option<(ApiResult<Job>, Self)> {
        if self.ended {
            return None;
        }
        self.live.next().await?;
        // Changes that arrived meanwhile are answered by this one read.
        while self.live.try_next().is_some() {}
        let job = match self.services.marketplace().job(self.job_id).await {
            Ok(job) => job,
            Err(error) => {
                self.ended = true;
                return Some((Err(error.into()), self));
            }
        };
        let visible = match self.current_actor().await {
            Ok(actor) => job_visible(&actor, &job),
            Err(error) => {
                self.ended = true;
                return Some((Err(error), self));
            }
        };
        if !visible {
            // Checked for every change: a viewer who lost sight of the job hears of it no more.
            self.ended = true;
            return Some((Err(ApiError::NotFound("job not found".to_string())), self));
        }
        Some((Ok(Job(job)), self))
    }
}

struct UnreadCount {
    service: NotificationService,
    user_id: ObjectId,
    sent: Option<u64>,
    live: LiveSubscription,
}

impl UnreadCount {
    async fn next(mut self) -> Option<(ApiResult<u64>, Self)> {
        loop {
            if self.sent.is_some() {
                self.live.next().await?;
            }
            match self.service.unread_count(self.user_id).await {
                Ok(count) if Some(count) != self.sent => {
                    self.sent = Some(count);
                    return Some((Ok(count), self));
                }
                Ok(_) => {}
                Err(error) => return Some((Err(error.into()), self)),
            }
        }
    }
}

/// Live updates.
#[Subscription]
impl SubscriptionRoot {
    /// The signed-in user's new notifications as they are created, oldest first. With `after`
    /// (a notification's `cursor`), first every notification created after that one (what a
    /// reconnecting client missed), then live ones: none twice, none left out. Without it, only
    /// those created from now on. `FORBIDDEN` for API keys.
    async fn notification_added(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
    ) -> async_graphql::Result<BoxStream<'static, ApiResult<Notification>>> {
        Ok(self.notifications_after(ctx, after).await?)
    }

    /// The job `id` each time it changes (status, seats, submission counters), for whoever may
    /// see it: checked when subscribing (`NOT_FOUND` otherwise) and again for every change; a
    /// viewer who may no longer see it gets one `NOT_FOUND` and the stream ends.
    async fn job_changed(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<BoxStream<'static, ApiResult<Job>>> {
        Ok(self.job_changes(ctx, id).await?)
    }

    /// The signed-in user's unread count: now, then each time it changes. `FORBIDDEN` for API
    /// keys.
    async fn unread_notification_count_changed(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<BoxStream<'static, ApiResult<u64>>> {
        let user_id = recipient(ctx)?;
        let services = services(ctx);
        let state = UnreadCount {
            service: services.notifications().clone(),
            user_id,
            sent: None,
            live: services.live().subscribe(user_id),
        };
        Ok(stream::unfold(state, UnreadCount::next).boxed())
    }
}

impl SubscriptionRoot {
    async fn job_changes(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> ApiResult<BoxStream<'static, ApiResult<Job>>> {
        let job_id = GlobalId::decode_as(&id, NodeType::Job, "id")?;
        // The same rule as `job(id:)`: a job the caller may not see is NOT_FOUND.
        visible_job(ctx, job_id).await?;
        let services = services(ctx).clone();
        let state = Watched {
            live: services.job_changes().subscribe(job_id),
            actor: actor(ctx).await?,
            user_id: viewer(ctx).principal()?.user_id(),
            job_id,
            services,
            ended: false,
        };
        Ok(stream::unfold(state, Watched::next).boxed())
    }

    async fn notifications_after(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
    ) -> ApiResult<BoxStream<'static, ApiResult<Notification>>> {
        let user_id = recipient(ctx)?;
        let after = after
            .as_deref()
            .map(|cursor| decode_sequence_cursor(cursor, "after"))
            .transpose()?;
        let services = services(ctx);
        let service = services.notifications().clone();
        // Registered before anything is read, so nothing created meanwhile is missed.
        let live = services.live().subscribe(user_id);
        let (last, more) = match after {
            Some(after) => (after, true),
            None => (service.latest_sequence(user_id).await?, false),
        };
        let state = Added {
            service,
            user_id,
            last,
            pending: VecDeque::new(),
            more,
            live,
        };
        Ok(stream::unfold(state, Added::next).boxed())
    }
}
