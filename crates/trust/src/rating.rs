//! Ratings (seed section 7): after a submission is approved or rejected, the job's client rates
//! the tester (overall and four detail ratings) and the tester rates the client (overall), once
//! per side.
//!
//! **Double-blind.** A rating is hidden from the other side (even its existence) until both sides
//! have rated or [`REVEAL_AFTER`] has passed since the review; then both are revealed at once by
//! one compare-and-set on `revealed_at` inside a transaction that also adds them to the rated
//! users' totals ([`crate::RatingTotals`]). Before the reveal the rater may edit; after it nobody
//! may, and the rated user may respond once. The window to rate closes with the reveal deadline.

use std::collections::HashMap;
use std::time::Duration;

use bson::oid::ObjectId;
use bson::{doc, DateTime};
use foundation::events::{DomainEvent, DomainEventKind};
use futures_util::TryStreamExt;
use marketplace::{Actor, ActorRole, MarketplaceService, SubmissionStatus};
use mongodb::error::{ErrorKind, WriteFailure};
use serde::{Deserialize, Serialize};

use crate::error::TrustError;
use crate::service::TrustService;
use crate::totals::RevealedRating;
use foundation::batch::BATCH_REPLY_DOCUMENTS;
use foundation::transaction_retry::in_transaction;

/// How long after the review a lone rating stays hidden (and the other side may still rate).
pub const REVEAL_AFTER: Duration = Duration::from_secs(14 * 24 * 60 * 60);
/// Longest review text, in characters.
pub const MAX_REVIEW_CHARS: usize = 5_000;
/// Longest response, in characters.
pub const MAX_RESPONSE_CHARS: usize = 2_000;
/// Most pros (and most cons) per rating.
pub const MAX_POINTS: usize = 10;
/// Longest pro or con, in characters.
pub const MAX_POINT_CHARS: usize = 200;
/// Ratings the reveal sweep looks at per run; the next run continues.
const SWEEP_LIMIT: i64 = 1_000;

/// Who is rated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RatedRole {
    /// The client rated the tester.
    Tester,
    /// The tester rated the client.
    Client,
}

/// A client's detail ratings of a tester, each 1 to 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetailRatings {
    /// Quality of the work.
    pub quality: i32,
    /// Communication.
    pub communication: i32,
    /// Timeliness.
    pub timeliness: i32,
    /// Professionalism.
    pub professionalism: i32,
}

/// One stored rating.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rating {
    /// Id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// The rated submission.
    pub submission_id: ObjectId,
    /// Its job.
    pub job_id: ObjectId,
    /// Who rated.
    pub rated_by_id: ObjectId,
    /// Who is rated.
    pub rated_user_id: ObjectId,
    /// Whether a tester or a client is rated.
    pub rated_user_role: RatedRole,
    /// 1 to 5.
    pub overall_rating: i32,
    /// A client's detail ratings of a tester; none on a tester's rating of a client.
    #[serde(default)]
    pub detail_ratings: Option<DetailRatings>,
    /// Review text.
    #[serde(default)]
    pub review_text: String,
    /// Pros.
    #[serde(default)]
    pub pros: Vec<String>,
    /// Cons.
    #[serde(default)]
    pub cons: Vec<String>,
    /// Shown on the rated user's public profile once revealed.
    pub is_public: bool,
    /// The rated user's one response, after the reveal.
    #[serde(default)]
    pub response_text: Option<String>,
    /// When they responded.
    #[serde(default)]
    pub response_date: Option<DateTime>,
    /// The client's organization when the rating was made; its members are on the client's side.
    #[serde(default)]
    pub organization_id: Option<ObjectId>,
    /// The review plus [`REVEAL_AFTER`]: the latest reveal and the end of the rating window.
    pub reveal_due_at: DateTime,
    /// When both sides' ratings became visible; none while hidden.
    #[serde(default)]
    pub revealed_at: Option<DateTime>,
    /// Created.
    pub created_at: DateTime,
    /// Last changed.
    pub updated_at: DateTime,
}

impl Rating {
    /// Whether the rating is visible to the other side.
    pub fn is_revealed(&self) -> bool {
        self.revealed_at.is_some()
    }
}

/// What a rater writes (new rating or edit).
#[derive(Debug, Clone, Default)]
pub struct RatingInput {
    /// 1 to 5.
    pub overall_rating: i32,
    /// Required when a client rates a tester; refused when a tester rates a client.
    pub detail_ratings: Option<DetailRatings>,
    /// At most [`MAX_REVIEW_CHARS`].
    pub review_text: String,
    /// At most [`MAX_POINTS`] of at most [`MAX_POINT_CHARS`].
    pub pros: Vec<String>,
    /// At most [`MAX_POINTS`] of at most [`MAX_POINT_CHARS`].
    pub cons: Vec<String>,
    /// Shown on the rated user's profile once revealed.
    pub is_public: bool,
}

/// A user's summary of the ratings they received and that are revealed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RatingSummary {
    /// Sum of the overall ratings.
    pub rating_sum: i64,
    /// How many.
    pub rating_count: i64,
}

impl RatingSummary {
    /// The exact average, none without ratings.
    pub fn average(&self) -> Option<f64> {
        (self.rating_count > 0).then(|| self.rating_sum as f64 / self.rating_count as f64)
    }
}

fn check_score(field: &'static str, value: i32) -> Result<(), TrustError> {
    if (1..=5).contains(&value) {
        Ok(())
    } else {
        Err(TrustError::invalid(field, "must be between 1 and 5"))
    }
}

fn check_points(field: &'static str, points: &[String]) -> Result<(), TrustError> {
    if points.len() > MAX_POINTS {
        return Err(TrustError::invalid(
            field,
            format!("at most {MAX_POINTS} items"),
        ));
    }
    if points
        .iter()
        .any(|point| point.trim().is_empty() || point.chars().count() > MAX_POINT_CHARS)
    {
        return Err(TrustError::invalid(
            field,
            format!("items must be 1 to {MAX_POINT_CHARS} characters"),
        ));
    }
    Ok(())
}

/// Checks a rating of a `rated` user; pure.
pub fn validate_rating(rated: RatedRole, input: &RatingInput) -> Result<(), TrustError> {
    check_score("overall_rating", input.overall_rating)?;
    match (rated, &input.detail_ratings) {
        (RatedRole::Tester, Some(detail)) => {
            check_score("detail_ratings.quality", detail.quality)?;
            check_score("detail_ratings.communication", detail.communication)?;
            check_score("detail_ratings.timeliness", detail.timeliness)?;
            check_score("detail_ratings.professionalism", detail.professionalism)?;
        }
        (RatedRole::Tester, None) => {
            return Err(TrustError::invalid(
                "detail_ratings",
                "a rating of a tester needs the four detail ratings",
            ))
        }
        (RatedRole::Client, Some(_)) => {
            return Err(TrustError::invalid(
                "detail_ratings",
                "only a rating of a tester has detail ratings",
            ))
        }
        (RatedRole::Client, None) => {}
    }
    if input.review_text.chars().count() > MAX_REVIEW_CHARS {
        return Err(TrustError::invalid(
            "review_text",
            format!("at most {MAX_REVIEW_CHARS} characters"),
        ));
    }
    check_points("pros", &input.pros)?;
    check_points("cons", &input.cons)
}

/// Whether `actor` is on the rated user's side: the user, or (for a rated client) a member of the
/// client's organization.
fn on_rated_side(actor: &Actor, rating: &Rating) -> bool {
    actor.user_id == rating.rated_user_id
        || (rating.rated_user_role == RatedRole::Client
            && actor.role != ActorRole::Tester
            && matches!((actor.organization, rating.organization_id), (Some((mine, _)), Some(theirs)) if mine == theirs))
}

/// Whether `actor` is on the rater's side: the rater, or (for a client's rating) a member of the
/// client's organization.
fn on_rater_side(actor: &Actor, rating: &Rating) -> bool {
    actor.user_id == rating.rated_by_id
        || (rating.rated_user_role == RatedRole::Tester
            && actor.role != ActorRole::Tester
            && matches!((actor.organization, rating.organization_id), (Some((mine, _)), Some(theirs)) if mine == theirs))
}

/// Who may see a rating: its rater's side always; once revealed, the rated user's side, and
/// everyone when it is public; platform admins always (they moderate). Anyone else is told it
/// does not exist, so a hidden rating leaks neither content nor existence.
pub fn rating_visible_to(actor: &Actor, rating: &Rating) -> bool {
    if actor.role == ActorRole::Admin || on_rater_side(actor, rating) {
        return true;
    }
    rating.is_revealed() && (rating.is_public || on_rated_side(actor, rating))
}

/// Whether a submission's ratings are due to be revealed: both sides rated, or the window closed.
pub fn reveal_due(ratings_of_submission: &[Rating], now: DateTime) -> bool {
    let both = ratings_of_submission.len() >= 2;
    let window_closed = ratings_of_submission
        .iter()
        .any(|rating| rating.reveal_due_at <= now);
    both || window_closed
}

fn plus(instant: DateTime, by: Duration) -> DateTime {
    let millis = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
    DateTime::from_millis(instant.timestamp_millis().saturating_add(millis))
}

fn is_duplicate_key(error: &mongodb::error::Error) -> bool {
    matches!(&*error.kind, ErrorKind::Write(WriteFailure::WriteError(write)) if write.code == 11000)
}

impl TrustService {
    /// Rates the other party of a reviewed submission: the job's client rates the tester, the
    /// submission's tester rates the client. Reveals both ratings when this is the second.
    pub async fn rate_submission(
        &self,
        marketplace: &MarketplaceService,
        actor: &Actor,
        submission_id: ObjectId,
        input: RatingInput,
    ) -> Result<Rating, TrustError> {
        let submission = marketplace.submission(actor, submission_id).await?;
        let job = marketplace.job(submission.job_id).await?;
        let (rated_user_id, rated_user_role) = if actor.user_id == submission.tester_id {
            (job.client_id, RatedRole::Client)
        } else if actor.user_id == job.client_id {
            (submission.tester_id, RatedRole::Tester)
        } else {
            return Err(TrustError::NotAParty);
        };
        validate_rating(rated_user_role, &input)?;
        let reviewed_at = match (submission.status, submission.reviewed_at) {
            (SubmissionStatus::Approved | SubmissionStatus::Rejected, Some(at)) => at,
            _ => return Err(TrustError::SubmissionNotReviewed),
        };
        let now = self.now();
        let reveal_due_at = plus(reviewed_at, REVEAL_AFTER);
        if now >= reveal_due_at {
            return Err(TrustError::RatingWindowClosed);
        }
        let rating = Rating {
            id: ObjectId::new(),
            submission_id,
            job_id: job.id,
            rated_by_id: actor.user_id,
            rated_user_id,
            rated_user_role,
            overall_rating: input.overall_rating,
            detail_ratings: input.detail_ratings,
            review_text: input.review_text,
            pros: input.pros,
            cons: input.cons,
            is_public: input.is_public,
            response_text: None,
            response_date: None,
            organization_id: job.organization_id,
            reveal_due_at,
            revealed_at: None,
            created_at: now,
            updated_at: now,
        };
        match self.ratings.insert_one(&rating).await {
            Ok(_) => {}
            Err(error) if is_duplicate_key(&error) => return Err(TrustError::AlreadyRated),
            Err(error) => return Err(error.into()),
        }
        // After the insert committed, so whichever side rates second sees both and reveals.
        self.reveal_submission(marketplace, submission_id).await?;
        self.ratings
            .find_one(doc! { "_id": rating.id })
            .await?
            .ok_or_else(|| TrustError::Internal("a rating vanished after its insert".into()))
    }

    /// Replaces the rater's own rating while it is hidden; a revealed one is `RatingRevealed`.
    pub async fn edit_rating(
        &self,
        actor: &Actor,
        rating_id: ObjectId,
        input: RatingInput,
    ) -> Result<Rating, TrustError> {
        let current = self.visible_rating(actor, rating_id).await?;
        if current.rated_by_id != actor.user_id {
            return Err(TrustError::NotAParty);
        }
        validate_rating(current.rated_user_role, &input)?;
        let now = self.now();
        let detail = input
            .detail_ratings
            .map(|detail| bson::to_bson(&detail))
            .transpose()?;
        let updated = self
            .ratings
            .find_one_and_update(
                doc! {
                    "_id": rating_id,
                    "rated_by_id": actor.user_id,
                    "revealed_at": null,
                    "reveal_due_at": { "$gt": now },
                },
                doc! { "$set": {
                    "overall_rating": input.overall_rating,
                    "detail_ratings": detail,
                    "review_text": input.review_text,
                    "pros": input.pros,
                    "cons": input.cons,
                    "is_public": input.is_public,
                    "updated_at": now,
                }},
            )
            .return_document(mongodb::options::ReturnDocument::After)
            .await?;
        updated.ok_or(TrustError::RatingRevealed)
    }

    /// The rated user's one response to a revealed rating.
    pub async fn respond_to_rating(
        &self,
        actor: &Actor,
        rating_id: ObjectId,
        response: String,
    ) -> Result<Rating, TrustError> {
        let trimmed = response.trim();
        if trimmed.is_empty() || trimmed.chars().count() > MAX_RESPONSE_CHARS {
            return Err(TrustError::invalid(
                "response_text",
                format!("must be 1 to {MAX_RESPONSE_CHARS} characters"),
            ));
        }
        let current = self.visible_rating(actor, rating_id).await?;
        if current.rated_user_id != actor.user_id {
            return Err(TrustError::NotAParty);
        }
        if !current.is_revealed() {
            return Err(TrustError::RatingNotRevealed);
        }
        let now = self.now();
        let updated = self
            .ratings
            .find_one_and_update(
                doc! {
                    "_id": rating_id,
                    "rated_user_id": actor.user_id,
                    "revealed_at": { "$ne": null },
                    "response_text": null,
                },
                doc! { "$set": { "response_text": trimmed, "response_date": now, "updated_at": now } },
            )
            .return_document(mongodb::options::ReturnDocument::After)
            .await?;
        updated.ok_or(TrustError::AlreadyResponded)
    }

    /// One rating, if `actor` may see it; otherwise `RatingNotFound`.
    pub async fn visible_rating(
        &self,
        actor: &Actor,
        rating_id: ObjectId,
    ) -> Result<Rating, TrustError> {
        self.ratings
            .find_one(doc! { "_id": rating_id })
            .await?
            .filter(|rating| rating_visible_to(actor, rating))
            .ok_or(TrustError::RatingNotFound)
    }

    /// Reveals the submission's ratings if they are due ([`reveal_due`]), adding each to its
    /// rated user's totals in the same transaction; a repeat or a lost race changes nothing.
    /// Returns the ratings it revealed.
    pub async fn reveal_submission(
        &self,
        marketplace: &MarketplaceService,
        submission_id: ObjectId,
    ) -> Result<Vec<Rating>, TrustError> {
        let now = self.now();
        let hidden: Vec<Rating> = self
            .ratings
            .find(doc! { "submission_id": submission_id, "revealed_at": null })
            .await?
            .try_collect()
            .await?;
        if hidden.is_empty() {
            return Ok(Vec::new());
        }
        // A tester's success rate is recounted from the submissions at each reveal, so it is
        // exact without a counter of its own.
        let mut review_counts = HashMap::new();
        for rating in &hidden {
            if rating.rated_user_role == RatedRole::Tester {
                let counts = marketplace
                    .tester_review_counts(rating.rated_user_id)
                    .await?;
                review_counts.insert(rating.rated_user_id, counts);
            }
        }
        let ratings = self.ratings.clone();
        let totals = self.totals.clone();
        let events = self.events.clone();
        let revealed = in_transaction(&self.client, |mut session| {
            let ratings = ratings.clone();
            let totals = totals.clone();
            let events = events.clone();
            let review_counts = review_counts.clone();
            async move {
                let outcome = async {
                    let all: Vec<Rating> = ratings
                        .find(doc! { "submission_id": submission_id })
                        .session(&mut session)
                        .await?
                        .stream(&mut session)
                        .try_collect()
                        .await?;
                    let hidden: Vec<Rating> =
                        all.iter().filter(|r| !r.is_revealed()).cloned().collect();
                    if hidden.is_empty() || !reveal_due(&all, now) {
                        return Ok(Vec::new());
                    }
                    let ids: Vec<ObjectId> = hidden.iter().map(|rating| rating.id).collect();
                    let result = ratings
                        .update_many(
                            doc! { "_id": { "$in": &ids }, "revealed_at": null },
                            doc! { "$set": { "revealed_at": now, "updated_at": now } },
                        )
                        .session(&mut session)
                        .await?;
                    if result.modified_count != ids.len() as u64 {
                        return Err(TrustError::Internal(
                            "a hidden rating changed during its reveal".into(),
                        ));
                    }
                    for rating in &hidden {
                        totals
                            .add_revealed_rating(
                                &mut session,
                                RevealedRating {
                                    rated_user_id: rating.rated_user_id,
                                    rated_user_role: rating.rated_user_role,
                                    overall_rating: rating.overall_rating,
                                    review_counts: review_counts
                                        .get(&rating.rated_user_id)
                                        .copied(),
                                },
                            )
                            .await?;
                        // The rated user hears of it in the reveal's transaction: revealed
                        // once, told once.
                        let event = DomainEvent::new(
                            DomainEventKind::RatingReceived,
                            [rating.rated_user_id],
                        )
                        .with_job(rating.job_id)
                        .with_submission(rating.submission_id)
                        .with_related_user(rating.rated_by_id)
                        .with_payload(doc! { "overall_rating": rating.overall_rating });
                        events.record(&mut session, event, now).await?;
                    }
                    Ok(hidden
                        .into_iter()
                        .map(|mut rating| {
                            rating.revealed_at = Some(now);
                            rating.updated_at = now;
                            rating
                        })
                        .collect())
                }
                .await;
                (session, outcome)
            }
        })
        .await?;
        Ok(revealed)
    }

    /// The background reveal: every submission with a hidden rating whose window closed, or
    /// with both sides rated (a reveal interrupted after the second insert), is revealed.
    /// Returns how many ratings were revealed.
    pub async fn reveal_due_ratings(
        &self,
        marketplace: &MarketplaceService,
    ) -> Result<usize, TrustError> {
        let hidden: Vec<Rating> = self
            .ratings
            .find(doc! { "revealed_at": null })
            .sort(doc! { "reveal_due_at": 1 })
            .limit(SWEEP_LIMIT)
            .await?
            .try_collect()
            .await?;
        let mut by_submission: HashMap<ObjectId, Vec<Rating>> = HashMap::new();
        for rating in hidden {
            by_submission
                .entry(rating.submission_id)
                .or_default()
                .push(rating);
        }
        let now = self.now();
        let mut revealed = 0;
        for (submission_id, ratings) in by_submission {
            if reveal_due(&ratings, now) {
                revealed += self
                    .reveal_submission(marketplace, submission_id)
                    .await?
                    .len();
            }
        }
        Ok(revealed)
    }

    /// Every rating of each submission (both sides, hidden or not), oldest first; callers filter
    /// with [`rating_visible_to`].
    pub async fn ratings_by_submission_ids(
        &self,
        submission_ids: &[ObjectId],
    ) -> Result<HashMap<ObjectId, Vec<Rating>>, TrustError> {
        let ratings: Vec<Rating> = self
            .ratings
            .find(doc! { "submission_id": { "$in": submission_ids } })
            .sort(doc! { "created_at": 1, "_id": 1 })
            .batch_size(BATCH_REPLY_DOCUMENTS)
            .await?
            .try_collect()
            .await?;
        let mut grouped: HashMap<ObjectId, Vec<Rating>> = HashMap::new();
        for rating in ratings {
            grouped
                .entry(rating.submission_id)
                .or_default()
                .push(rating);
        }
        Ok(grouped)
    }

    /// The ratings a person gave, and those they received that are revealed (an unrevealed
    /// rating stays blind to its subject, even in their data export), oldest first.
    pub async fn ratings_of_person(&self, user_id: ObjectId) -> Result<Vec<Rating>, TrustError> {
        Ok(self
            .ratings
            .find(doc! { "$or": [
                { "rated_by_id": user_id },
                { "rated_user_id": user_id, "revealed_at": { "$ne": null } },
            ] })
            .sort(doc! { "created_at": 1, "_id": 1 })
            .await?
            .try_collect()
            .await?)
    }

    /// Each user's revealed public ratings, newest first.
    pub async fn public_ratings_by_user_ids(
        &self,
        user_ids: &[ObjectId],
    ) -> Result<HashMap<ObjectId, Vec<Rating>>, TrustError> {
        let ratings: Vec<Rating> = self
            .ratings
            .find(doc! {
                "rated_user_id": { "$in": user_ids },
                "is_public": true,
                "revealed_at": { "$ne": null },
            })
            .sort(doc! { "revealed_at": -1, "_id": -1 })
            .batch_size(BATCH_REPLY_DOCUMENTS)
            .await?
            .try_collect()
            .await?;
        let mut grouped: HashMap<ObjectId, Vec<Rating>> = HashMap::new();
        for rating in ratings {
            grouped
                .entry(rating.rated_user_id)
                .or_default()
                .push(rating);
        }
        Ok(grouped)
    }

    /// Each user's summary over every revealed rating they received (public or not), from the
    /// ratings themselves: one query, exact integers.
    pub async fn rating_summaries(
        &self,
        user_ids: &[ObjectId],
    ) -> Result<HashMap<ObjectId, RatingSummary>, TrustError> {
        let ratings: Vec<Rating> = self
            .ratings
            .find(doc! { "rated_user_id": { "$in": user_ids }, "revealed_at": { "$ne": null } })
            .batch_size(BATCH_REPLY_DOCUMENTS)
            .await?
            .try_collect()
            .await?;
        let mut summaries: HashMap<ObjectId, RatingSummary> = user_ids
            .iter()
            .map(|id| (*id, RatingSummary::default()))
            .collect();
        for rating in ratings {
            let summary = summaries.entry(rating.rated_user_id).or_default();
            summary.rating_sum += i64::from(rating.overall_rating);
            summary.rating_count += 1;
        }
        Ok(summaries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use marketplace::OrgRole;

    fn actor(role: ActorRole) -> Actor {
        Actor {
            user_id: ObjectId::new(),
            role,
            organization: None,
            organization_rules: Default::default(),
        }
    }

    fn rating(rater: &Actor, rated: &Actor, role: RatedRole) -> Rating {
        let now = DateTime::from_millis(1_000_000);
        Rating {
            id: ObjectId::new(),
            submission_id: ObjectId::new(),
            job_id: ObjectId::new(),
            rated_by_id: rater.user_id,
            rated_user_id: rated.user_id,
            rated_user_role: role,
            overall_rating: 4,
            detail_ratings: None,
            review_text: String::new(),
            pros: Vec::new(),
            cons: Vec::new(),
            is_public: true,
            response_text: None,
            response_date: None,
            organization_id: None,
            reveal_due_at: plus(now, REVEAL_AFTER),
            revealed_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn a_hidden_rating_is_seen_only_by_its_rater_side_and_admins() {
        let client = actor(ActorRole::Client);
        let tester = actor(ActorRole::Tester);
        let stranger = actor(ActorRole::Tester);
        let mut hidden = rating(&client, &tester, RatedRole::Tester);
        assert!(rating_visible_to(&client, &hidden));
        assert!(!rating_visible_to(&tester, &hidden));
        assert!(!rating_visible_to(&stranger, &hidden));
        assert!(rating_visible_to(&actor(ActorRole::Admin), &hidden));
        hidden.revealed_at = Some(DateTime::from_millis(2_000_000));
        assert!(rating_visible_to(&tester, &hidden));
        assert!(rating_visible_to(&stranger, &hidden));
        hidden.is_public = false;
        assert!(rating_visible_to(&tester, &hidden));
        assert!(!rating_visible_to(&stranger, &hidden));
    }

    #[test]
    fn organization_members_share_their_clients_side_of_the_blind() {
        let organization = ObjectId::new();
        let mut client = actor(ActorRole::Client);
        client.organization = Some((organization, OrgRole::Owner));
        let mut colleague = actor(ActorRole::Client);
        colleague.organization = Some((organization, OrgRole::Member));
        let tester = actor(ActorRole::Tester);
        let mut of_tester = rating(&client, &tester, RatedRole::Tester);
        of_tester.organization_id = Some(organization);
        let mut of_client = rating(&tester, &client, RatedRole::Client);
        of_client.organization_id = Some(organization);
        of_client.is_public = false;
        assert!(rating_visible_to(&colleague, &of_tester));
        assert!(!rating_visible_to(&colleague, &of_client));
        of_client.revealed_at = Some(DateTime::from_millis(2_000_000));
        assert!(rating_visible_to(&colleague, &of_client));
    }

    #[test]
    fn ratings_are_due_when_both_sides_rated_or_the_window_closed() {
        let client = actor(ActorRole::Client);
        let tester = actor(ActorRole::Tester);
        let one = rating(&client, &tester, RatedRole::Tester);
        let before = DateTime::from_millis(one.reveal_due_at.timestamp_millis() - 1);
        assert!(!reveal_due(std::slice::from_ref(&one), before));
        assert!(reveal_due(std::slice::from_ref(&one), one.reveal_due_at));
        let other = rating(&tester, &client, RatedRole::Client);
        assert!(reveal_due(&[one, other], before));
    }

    #[test]
    fn a_testers_rating_needs_detail_ratings_and_a_clients_refuses_them() {
        let detail = DetailRatings {
            quality: 5,
            communication: 4,
            timeliness: 3,
            professionalism: 5,
        };
        let of_tester = RatingInput {
            overall_rating: 5,
            detail_ratings: Some(detail),
            ..RatingInput::default()
        };
        assert!(validate_rating(RatedRole::Tester, &of_tester).is_ok());
        let error = validate_rating(RatedRole::Client, &of_tester).expect_err("refused");
        assert_eq!(error.field(), Some("detail_ratings"));
        let bare = RatingInput {
            overall_rating: 5,
            ..RatingInput::default()
        };
        assert_eq!(
            validate_rating(RatedRole::Tester, &bare)
                .expect_err("refused")
                .field(),
            Some("detail_ratings")
        );
        assert!(validate_rating(RatedRole::Client, &bare).is_ok());
    }

    #[test]
    fn out_of_range_scores_and_oversized_text_name_their_field() {
        let cases: Vec<(RatingInput, &str)> = vec![
            (
                RatingInput {
                    overall_rating: 0,
                    ..RatingInput::default()
                },
                "overall_rating",
            ),
            (
                RatingInput {
                    overall_rating: 6,
                    ..RatingInput::default()
                },
                "overall_rating",
            ),
            (
                RatingInput {
                    overall_rating: 3,
                    review_text: "x".repeat(MAX_REVIEW_CHARS + 1),
                    ..RatingInput::default()
                },
                "review_text",
            ),
            (
                RatingInput {
                    overall_rating: 3,
                    pros: vec!["good".into(); MAX_POINTS + 1],
                    ..RatingInput::default()
                },
                "pros",
            ),
            (
                RatingInput {
                    overall_rating: 3,
                    cons: vec![" ".into()],
                    ..RatingInput::default()
                },
                "cons",
            ),
        ];
        for (input, field) in cases {
            let error = validate_rating(RatedRole::Client, &input).expect_err(field);
            assert_eq!(error.field(), Some(field));
        }
        let detail = RatingInput {
            overall_rating: 3,
            detail_ratings: Some(DetailRatings {
                quality: 3,
                communication: 9,
                timeliness: 3,
                professionalism: 3,
            }),
            ..RatingInput::default()
        };
        assert_eq!(
            validate_rating(RatedRole::Tester, &detail)
                .expect_err("refused")
                .field(),
            Some("detail_ratings.communication")
        );
    }
}
