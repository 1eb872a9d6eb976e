//! The notifications domain's GraphQL surface: the `Notification` node, the recipient's list,
//! unread count and preferences (fields of `User`, answered for the user themself only), the
//! mutations that read, dismiss and choose, and the `Subscription` root.
//!
//! Only the recipient ever sees a notification: every path takes the recipient from the signed-in
//! viewer, never from an argument, so platform admins and API keys see none.

pub mod subscriptions;

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};
use bson::oid::ObjectId;
use foundation::Cursor;

use crate::error::{ApiError, ApiResult};
use crate::identity_api::accounts::EmptyInput;
use crate::relay::{ConnectionTotals, GlobalId, ListConnection, NodeType};
use crate::scalars::DateTime;
use crate::viewer::{viewer, SignedInUser};
use crate::Services;

pub use subscriptions::SubscriptionRoot;

fn services<'a>(ctx: &Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Services>()
}

/// The signed-in user reading their own notifications; API keys are `FORBIDDEN`.
fn recipient(ctx: &Context<'_>) -> ApiResult<ObjectId> {
    Ok(viewer(ctx).user()?.user_id)
}

/// Whether the viewer is the signed-in user `user_id` (a `User`'s notification fields answer
/// only then).
fn is_viewer(ctx: &Context<'_>, user_id: ObjectId) -> bool {
    viewer(ctx).user().is_ok_and(|user| user.user_id == user_id)
}

/// What a notification is about.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "notifications::NotificationType")]
pub enum NotificationType {
    /// A job matching the tester was published.
    JobPosted,
    /// A tester took a seat on the client's job.
    JobAssigned,
    /// A submission arrived.
    SubmissionReceived,
    /// The tester's submission was approved.
    SubmissionApproved,
    /// The tester's submission was rejected.
    SubmissionRejected,
    /// The client asked for a revision.
    RevisionRequested,
    /// A submission was approved automatically after its review window.
    SubmissionAutoApproved,
    /// A payout arrived.
    PaymentReceived,
    /// A payout waits for a verified payout account.
    PayoutHeld,
    /// A refund arrived.
    RefundProcessed,
    /// The payout account was verified.
    PayoutAccountVerified,
    /// The payout account was restricted.
    PayoutAccountRestricted,
    /// The account was suspended.
    AccountSuspended,
    /// A rating was revealed.
    RatingReceived,
    /// A dispute moved.
    DisputeUpdate,
    /// A deadline is 24 hours away.
    DeadlineReminder,
    /// A review is due before automatic approval.
    ReviewReminder,
    /// A message from the platform.
    System,
    /// A type this version does not know (refused as input).
    Other,
}

/// How urgent a notification is.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "notifications::Priority")]
pub enum NotificationPriority {
    /// Informational.
    Low,
    /// The default.
    Normal,
    /// Money or work waits on the recipient.
    High,
    /// The account itself is affected.
    Urgent,
    /// A level this version does not know.
    Other,
}

/// Where a notification goes.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "notifications::Channel")]
pub enum NotificationChannel {
    /// The notification list and live push.
    InApp,
    /// E-mail.
    Email,
}

/// Something that happened which the recipient should hear about.
pub struct Notification(pub notifications::Notification);

/// The cursor of a notification: its place in the recipient's sequence.
fn sequence_cursor(sequence: i64) -> String {
    Cursor::new(format!("n{sequence}")).encode()
}

/// The sequence a [`sequence_cursor`] names; anything else is `BAD_USER_INPUT` on `field`.
pub(crate) fn decode_sequence_cursor(cursor: &str, field: &str) -> ApiResult<i64> {
    let malformed = || ApiError::bad_input(field, "is not a notification cursor");
    let decoded = Cursor::decode(cursor).map_err(|_| malformed())?;
    decoded
        .position
        .strip_prefix('n')
        .and_then(|sequence| sequence.parse::<i64>().ok())
        .filter(|sequence| *sequence >= 0)
        .ok_or_else(malformed)
}

/// Something that happened which the recipient should hear about.
#[Object]
impl Notification {
    /// Global ID.
    pub async fn id(&self) -> ID {
        GlobalId::encode(NodeType::Notification, self.0.id)
    }
    /// Its position for `notificationAdded(after:)` and `notifications(after:)`.
    async fn cursor(&self) -> String {
        sequence_cursor(self.0.sequence)
    }
    /// What it is about.
    #[graphql(name = "type")]
    async fn kind(&self) -> NotificationType {
        self.0.kind.into()
    }
    /// Short title.
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// The text.
    async fn message(&self) -> &str {
        &self.0.message
    }
    /// The job concerned.
    async fn related_job_id(&self) -> Option<ID> {
        self.0
            .related_job_id
            .map(|id| GlobalId::encode(NodeType::Job, id))
    }
    /// The submission concerned.
    async fn related_submission_id(&self) -> Option<ID> {
        self.0
            .related_submission_id
            .map(|id| GlobalId::encode(NodeType::Submission, id))
    }
    /// The other person involved.
    async fn related_user_id(&self) -> Option<ID> {
        self.0
            .related_user_id
            .map(|id| GlobalId::encode(NodeType::User, id))
    }
    /// The app route to open.
    async fn action_url(&self) -> Option<&str> {
        self.0.action_url.as_deref()
    }
    /// The label of the button that opens it.
    async fn action_text(&self) -> Option<&str> {
        self.0.action_text.as_deref()
    }
    /// Whether it was read.
    async fn is_read(&self) -> bool {
        self.0.is_read
    }
    /// When it was read.
    async fn read_at(&self) -> Option<DateTime> {
        self.0.read_at.map(Into::into)
    }
    /// How urgent.
    async fn priority(&self) -> NotificationPriority {
        self.0.priority.into()
    }
    /// Notifications sharing it are about one thing (a job, a submission).
    async fn group_key(&self) -> Option<&str> {
        self.0.group_key.as_deref()
    }
    /// When it was dismissed (dismissed ones are no longer listed).
    async fn dismissed_at(&self) -> Option<DateTime> {
        self.0.dismissed_at.map(Into::into)
    }
    /// Whether it was also e-mailed.
    async fn sent_email(&self) -> bool {
        self.0.sent_email
    }
    /// When it was e-mailed.
    async fn email_sent_at(&self) -> Option<DateTime> {
        self.0.email_sent_at.map(Into::into)
    }
    /// Created.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    /// When it is removed.
    async fn expires_at(&self) -> DateTime {
        self.0.expires_at.into()
    }
}

/// One choice: a notification type on a channel.
#[derive(SimpleObject, Debug, Clone, Copy)]
pub struct NotificationPreference {
    /// The type.
    #[graphql(name = "type")]
    pub kind: NotificationType,
    /// The channel.
    pub channel: NotificationChannel,
    /// Whether it is sent there.
    pub enabled: bool,
}

impl From<notifications::Preference> for NotificationPreference {
    fn from(preference: notifications::Preference) -> Self {
        NotificationPreference {
            kind: preference.kind.into(),
            channel: preference.channel.into(),
            enabled: preference.enabled,
        }
    }
}

/// The notification `id` if the viewer is its recipient.
pub(crate) async fn own_notification(
    ctx: &Context<'_>,
    id: ObjectId,
) -> ApiResult<Option<Notification>> {
    let Ok(user) = viewer(ctx).user() else {
        return Ok(None);
    };
    match services(ctx)
        .notifications()
        .notification(user.user_id, id)
        .await
    {
        Ok(notification) => Ok(Some(Notification(notification))),
        Err(notifications::NotificationError::NotificationNotFound) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// `User.notifications`: the user's own list, newest first; `null` for anyone else.
pub(crate) async fn notifications_of(
    ctx: &Context<'_>,
    user_id: ObjectId,
    first: Option<i32>,
    after: Option<String>,
    unread_only: bool,
) -> ApiResult<Option<ListConnection<Notification>>> {
    if !is_viewer(ctx, user_id) {
        return Ok(None);
    }
    let first = i64::from(first.unwrap_or(20));
    if !(0..=100).contains(&first) {
        return Err(ApiError::bad_input(
            "first",
            format!("must be between 0 and 100, got {first}"),
        ));
    }
    let before = after
        .as_deref()
        .map(|cursor| decode_sequence_cursor(cursor, "after"))
        .transpose()?;
    let page = services(ctx)
        .notifications()
        .page(user_id, first, before, unread_only)
        .await?;
    let mut connection = ListConnection::with_additional_fields(
        before.is_some(),
        page.has_next_page,
        ConnectionTotals {
            total_count: page.total_count,
        },
    );
    connection.edges = page
        .notifications
        .into_iter()
        .map(|notification| {
            async_graphql::connection::Edge::new(
                sequence_cursor(notification.sequence),
                Notification(notification),
            )
        })
        .collect();
    Ok(Some(connection))
}

/// `User.unreadNotificationCount`: the user's own; `null` for anyone else.
pub(crate) async fn unread_count_of(
    ctx: &Context<'_>,
    user_id: ObjectId,
) -> ApiResult<Option<u64>> {
    if !is_viewer(ctx, user_id) {
        return Ok(None);
    }
    Ok(Some(
        services(ctx).notifications().unread_count(user_id).await?,
    ))
}

/// `User.notificationSettings`: every type on every channel; `null` for anyone else.
pub(crate) async fn settings_of(
    ctx: &Context<'_>,
    user_id: ObjectId,
) -> ApiResult<Option<Vec<NotificationPreference>>> {
    if !is_viewer(ctx, user_id) {
        return Ok(None);
    }
    let switches = services(ctx)
        .identity()
        .notification_switches(&[user_id])
        .await?
        .remove(&user_id)
        .unwrap_or_default();
    Ok(Some(
        notifications::NotificationService::preferences(&switches)
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// Names one of the caller's notifications.
#[derive(InputObject)]
pub struct NotificationIdInput {
    /// The notification's global ID.
    pub id: ID,
}

/// A notification after the change, and the caller's unread count.
#[derive(SimpleObject)]
pub struct NotificationPayload {
    /// The notification.
    pub notification: Notification,
    /// How many unread notifications the caller has now.
    pub unread_count: u64,
}

/// What marking everything read did.
#[derive(SimpleObject)]
pub struct MarkAllNotificationsReadPayload {
    /// How many notifications changed from unread to read.
    pub marked_count: u64,
    /// How many unread notifications the caller has now (0 unless new ones arrived).
    pub unread_count: u64,
}

/// One preference to change.
#[derive(InputObject)]
pub struct NotificationPreferenceInput {
    /// The type.
    #[graphql(name = "type")]
    pub kind: NotificationType,
    /// The channel.
    pub channel: NotificationChannel,
    /// On or off.
    pub enabled: bool,
}

/// Preferences to change; the others keep their value.
#[derive(InputObject)]
pub struct UpdateNotificationPreferencesInput {
    /// At most one per type and channel.
    #[graphql(validator(max_items = 64))]
    pub preferences: Vec<NotificationPreferenceInput>,
}

/// Every preference after the change.
#[derive(SimpleObject)]
pub struct NotificationPreferencesPayload {
    /// Every type on every channel.
    pub preferences: Vec<NotificationPreference>,
}

/// Notification mutations: the signed-in recipient only (`FORBIDDEN` for API keys).
#[derive(Default)]
pub struct NotificationMutation;

/// Notification mutations.
#[Object]
impl NotificationMutation {
    /// Marks one of the caller's notifications read (again: no change). Someone else's is
    /// `NOT_FOUND`, the same as one that does not exist.
    #[graphql(guard = "SignedInUser")]
    async fn mark_notification_read(
        &self,
        ctx: &Context<'_>,
        input: NotificationIdInput,
    ) -> ApiResult<NotificationPayload> {
        let user_id = recipient(ctx)?;
        let id = GlobalId::decode_as(&input.id, NodeType::Notification, "id")?;
        let service = services(ctx).notifications();
        let notification = service.mark_read(user_id, id).await?;
        Ok(NotificationPayload {
            notification: Notification(notification),
            unread_count: service.unread_count(user_id).await?,
        })
    }

    /// Marks every unread notification of the caller read, in one database command whatever
    /// their number.
    #[graphql(guard = "SignedInUser")]
    async fn mark_all_notifications_read(
        &self,
        ctx: &Context<'_>,
        input: EmptyInput,
    ) -> ApiResult<MarkAllNotificationsReadPayload> {
        let _ = input;
        let user_id = recipient(ctx)?;
        let service = services(ctx).notifications();
        let marked_count = service.mark_all_read(user_id).await?;
        Ok(MarkAllNotificationsReadPayload {
            marked_count,
            unread_count: service.unread_count(user_id).await?,
        })
    }

    /// Dismisses one of the caller's notifications: it leaves the list and the unread count.
    #[graphql(guard = "SignedInUser")]
    async fn dismiss_notification(
        &self,
        ctx: &Context<'_>,
        input: NotificationIdInput,
    ) -> ApiResult<NotificationPayload> {
        let user_id = recipient(ctx)?;
        let id = GlobalId::decode_as(&input.id, NodeType::Notification, "id")?;
        let service = services(ctx).notifications();
        let notification = service.dismiss(user_id, id).await?;
        Ok(NotificationPayload {
            notification: Notification(notification),
            unread_count: service.unread_count(user_id).await?,
        })
    }

    /// Turns notification types on or off per channel for the caller; types never set are on.
    /// `OTHER` or a type given twice for one channel is `BAD_USER_INPUT` on `preferences`.
    #[graphql(guard = "SignedInUser")]
    async fn update_notification_preferences(
        &self,
        ctx: &Context<'_>,
        input: UpdateNotificationPreferencesInput,
    ) -> ApiResult<NotificationPreferencesPayload> {
        let user_id = recipient(ctx)?;
        let changes: Vec<notifications::Preference> = input
            .preferences
            .iter()
            .map(|change| notifications::Preference {
                kind: change.kind.into(),
                channel: change.channel.into(),
                enabled: change.enabled,
            })
            .collect();
        let switches = notifications::NotificationService::switch_changes(&changes)?;
        let stored = services(ctx)
            .identity()
            .set_notification_switches(user_id, &switches)
            .await?;
        Ok(NotificationPreferencesPayload {
            preferences: notifications::NotificationService::preferences(&stored)
                .into_iter()
                .map(Into::into)
                .collect(),
        })
    }
}
