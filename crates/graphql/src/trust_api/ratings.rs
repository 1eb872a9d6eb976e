//! Ratings: the `Rating` node, `rateSubmission`, `editRating`, `respondToRating`, and the lists
//! other types show (`Submission.ratings`, `User.ratings`, `User.ratingSummary`), each loaded in
//! batches through the request's loaders.

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};
use bson::oid::ObjectId;

use crate::error::ApiResult;
use crate::identity_api::types::User;
use crate::loaders::{
    load, load_user, PublicRatingsByUserLoader, RatingSummaryLoader, RatingsBySubmissionLoader,
};
use crate::marketplace_api::access::actor;
use crate::marketplace_api::submissions::submission_id;
use crate::relay::{connection_from_list, page_request, GlobalId, ListConnection, NodeType};
use crate::scalars::DateTime;
use crate::viewer::{Authenticated, SignedInUser};
use crate::Services;

fn services<'a>(ctx: &Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Services>()
}

/// Who a rating is about.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "trust::RatedRole")]
pub enum RatedRole {
    /// The job's client rated the submission's tester.
    Tester,
    /// The submission's tester rated the job's client.
    Client,
}

/// A client's detail ratings of a tester, each 1 to 5.
#[derive(SimpleObject, InputObject, Clone, Copy)]
#[graphql(input_name = "DetailRatingsInput")]
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

impl From<DetailRatings> for trust::DetailRatings {
    fn from(value: DetailRatings) -> Self {
        trust::DetailRatings {
            quality: value.quality,
            communication: value.communication,
            timeliness: value.timeliness,
            professionalism: value.professionalism,
        }
    }
}

/// One side's rating of the other after a review. Double-blind: the other side sees it (or that
/// it exists) only once both sides rated or 14 days passed since the review.
pub struct Rating(pub trust::Rating);

/// One side's rating of the other after a review. Double-blind: the other side sees it (or that
/// it exists) only once both sides rated or 14 days passed since the review.
#[Object]
impl Rating {
    /// Global ID.
    pub async fn id(&self) -> ID {
        GlobalId::encode(NodeType::Rating, self.0.id)
    }
    /// The rated submission's ID.
    async fn submission_id(&self) -> ID {
        GlobalId::encode(NodeType::Submission, self.0.submission_id)
    }
    /// Who rated.
    async fn rated_by(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        Ok(load_user(ctx, self.0.rated_by_id).await?.map(User::new))
    }
    /// Who is rated.
    async fn rated_user(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        Ok(load_user(ctx, self.0.rated_user_id).await?.map(User::new))
    }
    /// Whether a tester or a client is rated.
    async fn rated_user_role(&self) -> RatedRole {
        self.0.rated_user_role.into()
    }
    /// 1 to 5.
    async fn overall_rating(&self) -> i32 {
        self.0.overall_rating
    }
    /// A client's detail ratings of a tester.
    async fn detail_ratings(&self) -> Option<DetailRatings> {
        self.0.detail_ratings.map(|detail| DetailRatings {
            quality: detail.quality,
            communication: detail.communication,
            timeliness: detail.timeliness,
            professionalism: detail.professionalism,
        })
    }
    /// Review text.
    async fn review_text(&self) -> &str {
        &self.0.review_text
    }
    /// Pros.
    async fn pros(&self) -> &[String] {
        &self.0.pros
    }
    /// Cons.
    async fn cons(&self) -> &[String] {
        &self.0.cons
    }
    /// Shown on the rated user's profile once revealed.
    async fn is_public(&self) -> bool {
        self.0.is_public
    }
    /// Whether both sides can see it (it can no longer change).
    async fn revealed(&self) -> bool {
        self.0.is_revealed()
    }
    /// When it was revealed.
    async fn revealed_at(&self) -> Option<DateTime> {
        self.0.revealed_at.map(Into::into)
    }
    /// The latest reveal (14 days after the review); also the end of the window to rate.
    async fn reveal_due_at(&self) -> DateTime {
        self.0.reveal_due_at.into()
    }
    /// The rated user's one response.
    async fn response_text(&self) -> Option<&str> {
        self.0.response_text.as_deref()
    }
    /// When they responded.
    async fn response_date(&self) -> Option<DateTime> {
        self.0.response_date.map(Into::into)
    }
    /// Created.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    /// Last changed.
    async fn updated_at(&self) -> DateTime {
        self.0.updated_at.into()
    }
}

/// A user's revealed ratings, as exact figures.
#[derive(SimpleObject)]
pub struct RatingSummary {
    /// Mean of the revealed overall ratings (`null` without any).
    pub average_rating: Option<f64>,
    /// How many revealed ratings.
    pub rating_count: i64,
    /// Sum of the revealed overall ratings.
    pub rating_sum: i64,
}

/// The ratings of `submission` the caller may see (`Submission.ratings`).
pub async fn submission_ratings(ctx: &Context<'_>, submission: ObjectId) -> ApiResult<Vec<Rating>> {
    let actor = actor(ctx).await?;
    Ok(load(
        ctx,
        RatingsBySubmissionLoader(services(ctx).clone()),
        submission,
    )
    .await?
    .unwrap_or_default()
    .into_iter()
    .filter(|rating| trust::rating_visible_to(&actor, rating))
    .map(Rating)
    .collect())
}

/// The revealed public ratings `user` received, newest first (`User.ratings`).
pub async fn user_ratings(
    ctx: &Context<'_>,
    user: ObjectId,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> ApiResult<ListConnection<Rating>> {
    let ratings = load(ctx, PublicRatingsByUserLoader(services(ctx).clone()), user)
        .await?
        .unwrap_or_default();
    connection_from_list(&page_request(first, after, last, before), ratings, Rating)
}

/// `user`'s summary over the revealed ratings they received (`User.ratingSummary`).
pub async fn user_rating_summary(ctx: &Context<'_>, user: ObjectId) -> ApiResult<RatingSummary> {
    let summary = load(ctx, RatingSummaryLoader(services(ctx).clone()), user)
        .await?
        .unwrap_or_default();
    Ok(RatingSummary {
        average_rating: summary.average(),
        rating_count: summary.rating_count,
        rating_sum: summary.rating_sum,
    })
}

/// A rating the caller may see, or `NOT_FOUND`.
pub async fn visible_rating(ctx: &Context<'_>, id: ObjectId) -> ApiResult<Rating> {
    let actor = actor(ctx).await?;
    Ok(Rating(
        services(ctx).trust().visible_rating(&actor, id).await?,
    ))
}

fn rating_id(id: &ID, field: &str) -> ApiResult<ObjectId> {
    GlobalId::decode_as(id, NodeType::Rating, field)
}

/// Rating queries.
#[derive(Default)]
pub struct RatingQuery;

/// Rating queries.
#[Object]
impl RatingQuery {
    /// One rating: its rater's side always; the rated side and (when public) everyone once
    /// revealed; admins. Anything else is `NOT_FOUND`.
    #[graphql(guard = "Authenticated")]
    async fn rating(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Rating> {
        visible_rating(ctx, rating_id(&id, "id")?).await
    }
}

/// Input of `rateSubmission`.
#[derive(InputObject)]
pub struct RateSubmissionInput {
    /// An approved or rejected submission: its job's client rates the tester, its tester rates
    /// the client.
    pub submission_id: ID,
    /// 1 to 5.
    pub overall_rating: i32,
    /// Required when the client rates the tester; refused when the tester rates the client.
    pub detail_ratings: Option<DetailRatings>,
    /// At most 5,000 characters.
    #[graphql(default)]
    pub review_text: String,
    /// At most 10, each 1 to 200 characters.
    #[graphql(default)]
    pub pros: Vec<String>,
    /// At most 10, each 1 to 200 characters.
    #[graphql(default)]
    pub cons: Vec<String>,
    /// Show it on the rated user's profile once revealed.
    #[graphql(default = true)]
    pub is_public: bool,
}

/// Input of `editRating`: the whole rating, replacing what was there.
#[derive(InputObject)]
pub struct EditRatingInput {
    /// The caller's own hidden rating.
    pub rating_id: ID,
    /// 1 to 5.
    pub overall_rating: i32,
    /// As in `rateSubmission`.
    pub detail_ratings: Option<DetailRatings>,
    /// At most 5,000 characters.
    #[graphql(default)]
    pub review_text: String,
    /// At most 10, each 1 to 200 characters.
    #[graphql(default)]
    pub pros: Vec<String>,
    /// At most 10, each 1 to 200 characters.
    #[graphql(default)]
    pub cons: Vec<String>,
    /// Show it on the rated user's profile once revealed.
    #[graphql(default = true)]
    pub is_public: bool,
}

/// Input of `respondToRating`.
#[derive(InputObject)]
pub struct RespondToRatingInput {
    /// A revealed rating of the caller.
    pub rating_id: ID,
    /// 1 to 2,000 characters.
    pub response_text: String,
}

/// A rating after a change.
#[derive(SimpleObject)]
pub struct RatingPayload {
    /// The rating.
    pub rating: Rating,
}

/// Rating mutations.
#[derive(Default)]
pub struct RatingMutation;

/// Rating mutations.
#[Object]
impl RatingMutation {
    /// Rates the other party of an approved or rejected submission, once per side, within 14
    /// days of the review. Hidden from the other side until both rated or the 14 days passed.
    /// A second rating by the same side is `CONFLICT`.
    #[graphql(guard = "SignedInUser")]
    async fn rate_submission(
        &self,
        ctx: &Context<'_>,
        input: RateSubmissionInput,
    ) -> ApiResult<RatingPayload> {
        let id = submission_id(&input.submission_id, "submissionId")?;
        let actor = actor(ctx).await?;
        let services = services(ctx);
        let rating = services
            .trust()
            .rate_submission(
                services.marketplace(),
                &actor,
                id,
                trust::RatingInput {
                    overall_rating: input.overall_rating,
                    detail_ratings: input.detail_ratings.map(Into::into),
                    review_text: input.review_text,
                    pros: input.pros,
                    cons: input.cons,
                    is_public: input.is_public,
                },
            )
            .await?;
        Ok(RatingPayload {
            rating: Rating(rating),
        })
    }

    /// Replaces the caller's own rating while it is hidden; once revealed it is `CONFLICT`.
    #[graphql(guard = "SignedInUser")]
    async fn edit_rating(
        &self,
        ctx: &Context<'_>,
        input: EditRatingInput,
    ) -> ApiResult<RatingPayload> {
        let id = rating_id(&input.rating_id, "ratingId")?;
        let actor = actor(ctx).await?;
        let rating = services(ctx)
            .trust()
            .edit_rating(
                &actor,
                id,
                trust::RatingInput {
                    overall_rating: input.overall_rating,
                    detail_ratings: input.detail_ratings.map(Into::into),
                    review_text: input.review_text,
                    pros: input.pros,
                    cons: input.cons,
                    is_public: input.is_public,
                },
            )
            .await?;
        Ok(RatingPayload {
            rating: Rating(rating),
        })
    }

    /// The rated user's one public response to a revealed rating.
    #[graphql(guard = "SignedInUser")]
    async fn respond_to_rating(
        &self,
        ctx: &Context<'_>,
        input: RespondToRatingInput,
    ) -> ApiResult<RatingPayload> {
        let id = rating_id(&input.rating_id, "ratingId")?;
        let actor = actor(ctx).await?;
        let rating = services(ctx)
            .trust()
            .respond_to_rating(&actor, id, input.response_text)
            .await?;
        Ok(RatingPayload {
            rating: Rating(rating),
        })
    }
}
