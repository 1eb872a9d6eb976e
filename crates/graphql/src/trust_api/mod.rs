//! The trust domain's GraphQL surface: ratings between a job's client and a submission's tester,
//! and disputes about a reviewed submission.
//! Resolvers translate arguments, build the marketplace actor from the viewer, call
//! `trust::TrustService`, and map its errors; who may see a rating is trust's rule
//! (`trust::rating_visible_to`), applied on every path (`rating`, `node`, nested lists).

pub mod disputes;
pub mod ratings;

use async_graphql::MergedObject;

/// Every trust query.
#[derive(MergedObject, Default)]
pub struct TrustQuery(ratings::RatingQuery, disputes::DisputeQuery);

/// Every trust mutation.
#[derive(MergedObject, Default)]
pub struct TrustMutation(ratings::RatingMutation, disputes::DisputeMutation);
