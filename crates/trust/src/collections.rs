//! The collections trust owns, with their indexes and validators: `ratings` (seed section 7).
//! `disputes` and `qualification_tests` (sections 6 and 10) join when their code does.

use bson::{doc, Document};
use foundation::CollectionSpec;
use mongodb::options::IndexOptions;
use mongodb::IndexModel;

/// Ratings between a job's client and a submission's tester (seed section 7).
pub const RATINGS: &str = "ratings";

fn index(keys: Document) -> IndexModel {
    IndexModel::builder().keys(keys).build()
}

/// Every collection spec, in creation order.
pub fn specs() -> Vec<CollectionSpec> {
    vec![ratings()]
}

fn ratings() -> CollectionSpec {
    CollectionSpec::new(RATINGS)
        // The seed's unique `submission_id` would forbid the second side's rating: one rating per
        // submission *per side* is what is unique.
        .index(
            IndexModel::builder()
                .keys(doc! { "submission_id": 1, "rated_by_id": 1 })
                .options(IndexOptions::builder().unique(true).build())
                .build(),
        )
        .index(index(doc! { "rated_user_id": 1, "is_public": 1 }))
        .index(index(doc! { "rated_by_id": 1 }))
        .index(index(doc! { "overall_rating": 1 }))
        .index(index(doc! { "created_at": -1 }))
        // The reveal sweep looks for hidden ratings whose window has closed.
        .index(index(doc! { "revealed_at": 1, "reveal_due_at": 1 }))
        .validator(doc! { "$jsonSchema": {
            "bsonType": "object",
            "required": [
                "submission_id", "job_id", "rated_by_id", "rated_user_id", "rated_user_role",
                "overall_rating", "is_public", "reveal_due_at", "created_at", "updated_at",
            ],
            "properties": {
                "submission_id": { "bsonType": "objectId" },
                "job_id": { "bsonType": "objectId" },
                "rated_by_id": { "bsonType": "objectId" },
                "rated_user_id": { "bsonType": "objectId" },
                "rated_user_role": { "enum": ["client", "tester"] },
                "overall_rating": { "bsonType": "int", "minimum": 1, "maximum": 5 },
                "is_public": { "bsonType": "bool" },
                "reveal_due_at": { "bsonType": "date" },
            },
        }})
}
