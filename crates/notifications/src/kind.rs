//! What a notification is: its type (seed section 8's types plus the ones later issues add), its
//! priority, the channels it goes out on and the preference switch for each type and channel,
//! and how a domain event becomes a notification's text ([`render`]). Pure functions, so the
//! words and the rules are tested without a database.

use bson::Document;
use foundation::events::{DomainEventKind, RecordedEvent};
use serde::{Deserialize, Serialize};

/// A notification's type, stored as the snake_case name in `notifications.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationType {
    /// A job matching the tester was published (seed).
    JobPosted,
    /// A tester took a seat on the client's job (seed).
    JobAssigned,
    /// A submission arrived (seed).
    SubmissionReceived,
    /// The tester's submission was approved (seed).
    SubmissionApproved,
    /// The tester's submission was rejected (seed).
    SubmissionRejected,
    /// The client asked the tester for a revision.
    RevisionRequested,
    /// The platform approved a submission its client left unreviewed.
    SubmissionAutoApproved,
    /// A payout reached the tester (seed).
    PaymentReceived,
    /// A payout waits for a verified payout account.
    PayoutHeld,
    /// A refund reached the client.
    RefundProcessed,
    /// The payout account can receive transfers.
    PayoutAccountVerified,
    /// The payout account was restricted.
    PayoutAccountRestricted,
    /// The account was suspended.
    AccountSuspended,
    /// A rating was revealed (seed).
    RatingReceived,
    /// A dispute moved (seed).
    DisputeUpdate,
    /// A deadline is 24 hours away.
    DeadlineReminder,
    /// A submission will be approved automatically soon.
    ReviewReminder,
    /// A message from the platform (seed).
    System,
    /// Written by a newer version.
    #[serde(other)]
    Other,
}

/// Every type a user can receive, in a stable order (the preferences list follows it).
pub const NOTIFICATION_TYPES: [NotificationType; 18] = [
    NotificationType::JobPosted,
    NotificationType::JobAssigned,
    NotificationType::SubmissionReceived,
    NotificationType::SubmissionApproved,
    NotificationType::SubmissionRejected,
    NotificationType::RevisionRequested,
    NotificationType::SubmissionAutoApproved,
    NotificationType::PaymentReceived,
    NotificationType::PayoutHeld,
    NotificationType::RefundProcessed,
    NotificationType::PayoutAccountVerified,
    NotificationType::PayoutAccountRestricted,
    NotificationType::AccountSuspended,
    NotificationType::RatingReceived,
    NotificationType::DisputeUpdate,
    NotificationType::DeadlineReminder,
    NotificationType::ReviewReminder,
    NotificationType::System,
];

impl NotificationType {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationType::JobPosted => "job_posted",
            NotificationType::JobAssigned => "job_assigned",
            NotificationType::SubmissionReceived => "submission_received",
            NotificationType::SubmissionApproved => "submission_approved",
            NotificationType::SubmissionRejected => "submission_rejected",
            NotificationType::RevisionRequested => "revision_requested",
            NotificationType::SubmissionAutoApproved => "submission_auto_approved",
            NotificationType::PaymentReceived => "payment_received",
            NotificationType::PayoutHeld => "payout_held",
            NotificationType::RefundProcessed => "refund_processed",
            NotificationType::PayoutAccountVerified => "payout_account_verified",
            NotificationType::PayoutAccountRestricted => "payout_account_restricted",
            NotificationType::AccountSuspended => "account_suspended",
            NotificationType::RatingReceived => "rating_received",
            NotificationType::DisputeUpdate => "dispute_update",
            NotificationType::DeadlineReminder => "deadline_reminder",
            NotificationType::ReviewReminder => "review_reminder",
            NotificationType::System => "system",
            NotificationType::Other => "other",
        }
    }

    /// The type a domain event becomes; `None` for kinds this version does not notify.
    pub fn of_event(kind: DomainEventKind) -> Option<NotificationType> {
        use DomainEventKind as K;
        use NotificationType as T;
        Some(match kind {
            K::JobPublished => T::JobPosted,
            K::SeatClaimed => T::JobAssigned,
            K::SubmissionSubmitted => T::SubmissionReceived,
            K::SubmissionApproved => T::SubmissionApproved,
            K::SubmissionRejected => T::SubmissionRejected,
            K::RevisionRequested => T::RevisionRequested,
            K::SubmissionAutoApproved => T::SubmissionAutoApproved,
            K::PaymentReceived => T::PaymentReceived,
            K::PayoutHeld => T::PayoutHeld,
            K::RefundProcessed => T::RefundProcessed,
            K::PayoutAccountVerified => T::PayoutAccountVerified,
            K::PayoutAccountRestricted => T::PayoutAccountRestricted,
            K::AccountSuspended => T::AccountSuspended,
            K::RatingReceived => T::RatingReceived,
            K::DisputeUpdate => T::DisputeUpdate,
            K::DeadlineReminder => T::DeadlineReminder,
            K::ReviewReminder => T::ReviewReminder,
            K::Other => return None,
        })
    }

    /// How urgent it is: what stops money or the account is high or urgent.
    pub fn priority(self) -> Priority {
        use NotificationType as T;
        match self {
            T::AccountSuspended => Priority::Urgent,
            T::PayoutHeld | T::PayoutAccountRestricted | T::DeadlineReminder | T::DisputeUpdate => {
                Priority::High
            }
            T::JobPosted | T::RatingReceived => Priority::Low,
            _ => Priority::Normal,
        }
    }

    /// The preference switch (a `users.notification_preferences` field) for this type on
    /// `channel`. The seed's e-mail fields keep their names; every other type and channel gets
    /// `email_<type>` / `in_app_<type>`.
    pub fn preference_key(self, channel: Channel) -> String {
        use NotificationType as T;
        match (channel, self) {
            (Channel::Email, T::JobPosted) => "email_new_job".into(),
            (Channel::Email, T::JobAssigned) => "email_job_assigned".into(),
            (Channel::Email, T::SubmissionReceived) => "email_submission_received".into(),
            (Channel::Email, T::PaymentReceived) => "email_payment_received".into(),
            (Channel::Email, T::RatingReceived) => "email_rating_received".into(),
            (Channel::Email, other) => format!("email_{}", other.as_str()),
            (Channel::InApp, other) => format!("in_app_{}", other.as_str()),
        }
    }
}

/// A delivery channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The notification list and live push.
    InApp,
    /// E-mail (delivered by the e-mail worker).
    Email,
}

/// The seed's switch that turns every in-app notification off.
pub const IN_APP_MASTER_SWITCH: &str = "in_app_notifications";

/// Whether a user with `switches` (absent means on) wants `kind` on `channel`. In-app also
/// needs the seed's `in_app_notifications`. An account suspension is always shown in the app:
/// the person must learn why they cannot work.
pub fn wants(
    switches: &std::collections::BTreeMap<String, bool>,
    kind: NotificationType,
    channel: Channel,
) -> bool {
    let on = |key: &str| switches.get(key).copied().unwrap_or(true);
    match channel {
        Channel::InApp if kind == NotificationType::AccountSuspended => true,
        Channel::InApp => on(IN_APP_MASTER_SWITCH) && on(&kind.preference_key(channel)),
        Channel::Email => on(&kind.preference_key(channel)),
    }
}

/// Seed 002's priority levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Informational.
    Low,
    /// The default.
    Normal,
    /// Money or work waits on the recipient.
    High,
    /// The account itself is affected.
    Urgent,
    /// Written by a newer version.
    #[serde(other)]
    Other,
}

/// A notification's words and links, derived from its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The type.
    pub kind: NotificationType,
    /// Short title.
    pub title: String,
    /// One or two sentences.
    pub message: String,
    /// The frontend route to open.
    pub action_url: String,
    /// The button's label.
    pub action_text: String,
    /// Notifications sharing it are one topic (a tester hears of a job once, whatever matched).
    pub group_key: String,
}

/// The text of `event`'s notification, or `None` when this version does not notify its kind.
pub fn render(event: &RecordedEvent) -> Option<Rendered> {
    use NotificationType as T;
    let kind = NotificationType::of_event(event.kind)?;
    let job_title = text(&event.payload, "job_title", "a job");
    let job_url = event
        .job_id
        .map(|id| format!("/jobs/{}", id.to_hex()))
        .unwrap_or_else(|| "/jobs".into());
    let submission_url = event
        .submission_id
        .map(|id| format!("/submissions/{}", id.to_hex()))
        .unwrap_or_else(|| job_url.clone());
    let amount = event
        .payload
        .get_i64("amount_cents")
        .ok()
        .map(format_cents)
        .unwrap_or_default();
    let (title, message, action_url, action_text) = match kind {
        T::JobPosted => (
            "New job available".to_string(),
            format!("'{job_title}' is open and you qualify."),
            job_url.clone(),
            "View Job",
        ),
        T::JobAssigned => (
            "A tester joined your job".into(),
            format!("A tester claimed a seat on '{job_title}'."),
            job_url.clone(),
            "View Job",
        ),
        T::SubmissionReceived => (
            "Submission received".into(),
            format!("A tester handed in their work on '{job_title}'."),
            submission_url.clone(),
            "View Submission",
        ),
        T::SubmissionApproved => (
            "Submission approved".into(),
            format!("Your submission for '{job_title}' was approved."),
            submission_url.clone(),
            "View Submission",
        ),
        T::SubmissionRejected => (
            "Submission rejected".into(),
            format!("Your submission for '{job_title}' was rejected."),
            submission_url.clone(),
            "View Submission",
        ),
        T::RevisionRequested => (
            "Revision requested".into(),
            format!("The client asked for changes to your submission for '{job_title}'."),
            submission_url.clone(),
            "View Submission",
        ),
        T::SubmissionAutoApproved => (
            "Submission approved automatically".into(),
            format!("A submission for '{job_title}' was approved after its review window closed."),
            submission_url.clone(),
            "View Submission",
        ),
        T::PaymentReceived => (
            "Payment received".into(),
            format!("You were paid {amount} for '{job_title}'."),
            "/earnings".into(),
            "View Earnings",
        ),
        T::PayoutHeld => (
            "Payout on hold".into(),
            format!("Your payout for '{job_title}' waits until your payout account is verified."),
            "/settings/payouts".into(),
            "Verify Account",
        ),
        T::RefundProcessed => (
            "Refund processed".into(),
            format!("{amount} for '{job_title}' was refunded to you."),
            job_url.clone(),
            "View Job",
        ),
        T::PayoutAccountVerified => (
            "Payout account verified".into(),
            "Your payout account is verified: payouts will reach you.".into(),
            "/settings/payouts".into(),
            "View Account",
        ),
        T::PayoutAccountRestricted => (
            "Payout account restricted".into(),
            "Your payout account was restricted; payouts wait until you fix it.".into(),
            "/settings/payouts".into(),
            "Fix Account",
        ),
        T::AccountSuspended => (
            "Account suspended".into(),
            "Your account was suspended by the platform. Contact support to learn more.".into(),
            "/support".into(),
            "Contact Support",
        ),
        T::RatingReceived => (
            "New rating".into(),
            match event.payload.get_i32("overall_rating") {
                Ok(stars) => format!("You received a {stars}-star rating."),
                Err(_) => "You received a rating.".to_string(),
            },
            "/ratings".into(),
            "View Rating",
        ),
        T::DisputeUpdate => (
            "Dispute update".into(),
            format!("A dispute about '{job_title}' changed."),
            submission_url.clone(),
            "View Dispute",
        ),
        T::DeadlineReminder => (
            "Deadline in 24 hours".into(),
            format!("'{job_title}' closes in 24 hours and you have not submitted yet."),
            job_url.clone(),
            "View Job",
        ),
        T::ReviewReminder => (
            "Review due".into(),
            format!("A submission for '{job_title}' is approved automatically in 2 days."),
            submission_url.clone(),
            "Review Submission",
        ),
        T::System | T::Other => return None,
    };
    let group_key = match (event.job_id, event.submission_id) {
        (_, Some(submission)) => format!("submission:{}", submission.to_hex()),
        (Some(job), None) => format!("job:{}", job.to_hex()),
        (None, None) => format!("{}:{}", kind.as_str(), event.id.to_hex()),
    };
    Some(Rendered {
        kind,
        title,
        message,
        action_url,
        action_text: action_text.into(),
        group_key,
    })
}

fn text(payload: &Document, key: &str, fallback: &str) -> String {
    // Titles are bounded where they are written; a notification line is cut shorter still.
    const MAX_CHARS: usize = 120;
    let value = payload.get_str(key).unwrap_or(fallback);
    value.chars().take(MAX_CHARS).collect()
}

fn format_cents(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}${}.{:02}", cents / 100, cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;
    use bson::oid::ObjectId;
    use std::collections::BTreeMap;

    fn event(kind: DomainEventKind, payload: Document) -> RecordedEvent {
        RecordedEvent {
            id: ObjectId::new(),
            kind,
            recipients: vec![],
            recipient_groups: vec![],
            job_id: Some(ObjectId::parse_str("65a1b2c3d4e5f6789abcdef3").unwrap()),
            submission_id: None,
            related_user_id: None,
            payload,
            created_at: bson::DateTime::from_millis(0),
        }
    }

    #[test]
    fn a_claimed_seat_tells_the_client_with_the_job_title_and_link() {
        let rendered = render(&event(
            DomainEventKind::SeatClaimed,
            doc! { "job_title": "Checkout flow" },
        ))
        .unwrap();
        assert_eq!(rendered.kind, NotificationType::JobAssigned);
        assert_eq!(
            rendered.message,
            "A tester claimed a seat on 'Checkout flow'."
        );
        assert_eq!(rendered.action_url, "/jobs/65a1b2c3d4e5f6789abcdef3");
        assert_eq!(rendered.group_key, "job:65a1b2c3d4e5f6789abcdef3");
    }

    #[test]
    fn amounts_are_shown_from_exact_cents() {
        let rendered = render(&event(
            DomainEventKind::PaymentReceived,
            doc! { "job_title": "X", "amount_cents": 4_505_i64 },
        ))
        .unwrap();
        assert_eq!(rendered.message, "You were paid $45.05 for 'X'.");
    }

    #[test]
    fn the_seed_email_switches_keep_their_names_and_other_types_get_their_own() {
        assert_eq!(
            NotificationType::JobPosted.preference_key(Channel::Email),
            "email_new_job"
        );
        assert_eq!(
            NotificationType::PayoutHeld.preference_key(Channel::Email),
            "email_payout_held"
        );
        assert_eq!(
            NotificationType::JobAssigned.preference_key(Channel::InApp),
            "in_app_job_assigned"
        );
        for kind in NOTIFICATION_TYPES {
            for channel in [Channel::InApp, Channel::Email] {
                assert!(identity_like_switch_name(&kind.preference_key(channel)));
            }
        }
    }

    fn identity_like_switch_name(name: &str) -> bool {
        let rest = name
            .strip_prefix("email_")
            .or_else(|| name.strip_prefix("in_app_"));
        rest.is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
    }

    #[test]
    fn preferences_default_on_and_the_in_app_master_switch_turns_in_app_off() {
        let mut switches = BTreeMap::new();
        assert!(wants(
            &switches,
            NotificationType::JobAssigned,
            Channel::InApp
        ));
        assert!(wants(
            &switches,
            NotificationType::JobAssigned,
            Channel::Email
        ));
        switches.insert("in_app_job_assigned".to_string(), false);
        assert!(!wants(
            &switches,
            NotificationType::JobAssigned,
            Channel::InApp
        ));
        assert!(wants(
            &switches,
            NotificationType::JobAssigned,
            Channel::Email
        ));
        switches.insert(IN_APP_MASTER_SWITCH.to_string(), false);
        assert!(!wants(
            &switches,
            NotificationType::SubmissionReceived,
            Channel::InApp
        ));
        assert!(wants(
            &switches,
            NotificationType::AccountSuspended,
            Channel::InApp
        ));
    }

    #[test]
    fn events_of_an_unknown_kind_make_no_notification() {
        assert_eq!(render(&event(DomainEventKind::Other, doc! {})), None);
    }
}
