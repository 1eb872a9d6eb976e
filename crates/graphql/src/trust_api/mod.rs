//! The trust domain's GraphQL surface: ratings between a job's client and a submission's tester,
//! disputes about a reviewed submission, and testers' qualification tests.
//! Resolvers translate arguments, build the marketplace actor from the viewer, call
//! `trust::TrustService`, and map its errors; who may see a rating is trust's rule
//! (`trust::rating_visible_to`), applied on every path (`rating`, `node`, nested lists).

pub mod disputes;
pub mod qualifications;
pub mod ratings;

use async_graphql::MergedObject;

/// Every trust query.
#[derive(MergedObject, Default)]
pub struct TrustQuery(
    ratings::RatingQuery,
    disputes::DisputeQuery,
    qualifications::QualificationQuery,
);

/// Every trust mutation.
#[derive(MergedObject, Default)]
pub struct TrustMutation(
    ratings::RatingMutation,
    disputes::DisputeMutation,
    qualifications::QualificationMutation,
);
