//! The collections trust owns, with their indexes and validators: `ratings` (seed section 7) and
//! `disputes` (section 6), `qualification_tests` (section 10) and the versions of their question
//! bank, `qualification_question_banks`.

use bson::{doc, Document};
use foundation::CollectionSpec;
use mongodb::options::IndexOptions;
use mongodb::IndexModel;

/// Disputes about a reviewed submission (seed section 6).
pub const DISPUTES: &str = "disputes";

/// Ratings between a job's client and a submission's tester (seed section 7).
pub const RATINGS: &str = "ratings";

/// Testers' qualification attempts (seed section 10).
pub const QUALIFICATION_TESTS: &str = "qualification_tests";

/// The versions of the question bank attempts draw from.
pub const QUALIFICATION_QUESTION_BANKS: &str = "qualification_question_banks";

fn index(keys: Document) -> IndexModel {
    IndexModel::builder().keys(keys).build()
}

/// Every collection spec, in creation order.
pub fn specs() -> Vec<CollectionSpec> {
    vec![
        ratings(),
        disputes(),
        qualification_tests(),
        question_banks(),
    ]
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

fn disputes() -> CollectionSpec {
    CollectionSpec::new(DISPUTES)
        // The seed's six indexes.
        .index(index(doc! { "submission_id": 1 }))
        .index(index(doc! { "job_id": 1 }))
        .index(index(doc! { "raised_by_id": 1, "status": 1 }))
        .index(index(doc! { "assigned_admin_id": 1, "status": 1 }))
        .index(index(doc! { "status": 1, "priority": 1 }))
        .index(index(doc! { "created_at": -1 }))
        // One open (or reviewed) dispute per submission, whoever races to open it.
        .index(
            IndexModel::builder()
                .keys(doc! { "submission_id": 1, "is_active": 1 })
                .options(
                    IndexOptions::builder()
                        .name("one_active_dispute_per_submission".to_owned())
                        .unique(true)
                        .partial_filter_expression(doc! { "is_active": true })
                        .build(),
                )
                .build(),
        )
        // A party's own disputes (`me.disputes`).
        .index(index(doc! { "respondent_id": 1 }))
        // A client's decided disputes (client accountability).
        .index(index(doc! { "client_id": 1, "resolution_type": 1 }))
        .validator(doc! { "$jsonSchema": {
            "bsonType": "object",
            "required": [
                "submission_id", "job_id", "raised_by_id", "raised_by_role", "respondent_id",
                "client_id", "tester_id", "reason", "description", "evidence", "status",
                "priority", "is_active", "messages", "created_at", "updated_at",
            ],
            "properties": {
                "submission_id": { "bsonType": "objectId" },
                "job_id": { "bsonType": "objectId" },
                "raised_by_id": { "bsonType": "objectId" },
                "raised_by_role": { "enum": ["client", "tester"] },
                "respondent_id": { "bsonType": "objectId" },
                "reason": { "enum": [
                    "incomplete_work", "unfair_rejection", "payment_issue", "quality_issue", "other",
                ] },
                "description": { "bsonType": "string", "maxLength": 5000 },
                "evidence": { "bsonType": "array", "maxItems": 10, "items": {
                    "bsonType": "object",
                    "required": ["type", "url", "uploaded_at"],
                    "properties": {
                        "type": { "enum": ["screenshot", "message", "document"] },
                        "url": { "bsonType": "string", "pattern": "^https://", "maxLength": 2048 },
                    },
                } },
                "status": { "enum": ["open", "under_review", "resolved", "closed"] },
                "priority": { "enum": ["low", "medium", "high"] },
                "is_active": { "bsonType": "bool" },
                "resolution_type": { "enum": [
                    "refund", "payment_released", "partial_refund", "no_action", null,
                ] },
                "messages": { "bsonType": "array", "maxItems": 200 },
            },
        }})
}

fn qualification_tests() -> CollectionSpec {
    CollectionSpec::new(QUALIFICATION_TESTS)
        // The seed's five indexes.
        .index(index(doc! { "tester_id": 1, "test_type": 1 }))
        .index(index(doc! { "status": 1 }))
        .index(index(doc! { "passed": 1 }))
        .index(index(doc! { "evaluated_at": -1 }))
        .index(index(doc! { "expires_at": 1 }))
        // One attempt in progress or waiting for evaluation per tester, whoever races to start.
        .index(
            IndexModel::builder()
                .keys(doc! { "tester_id": 1, "is_open": 1 })
                .options(
                    IndexOptions::builder()
                        .name("one_open_attempt_per_tester".to_owned())
                        .unique(true)
                        .partial_filter_expression(doc! { "is_open": true })
                        .build(),
                )
                .build(),
        )
        .validator(doc! { "$jsonSchema": {
            "bsonType": "object",
            "required": [
                "tester_id", "test_type", "test_version", "questions", "passing_score", "status",
                "is_open", "started_at",
            ],
            "properties": {
                "tester_id": { "bsonType": "objectId" },
                "test_type": { "enum": ["initial", "skill_assessment", "recertification"] },
                "test_version": { "bsonType": "string", "maxLength": 200 },
                "questions": { "bsonType": "array", "maxItems": 50, "items": {
                    "bsonType": "object",
                    "required": ["question_id", "question_text", "question_type", "points"],
                    "properties": {
                        "question_type": { "enum": ["multiple_choice", "practical", "essay"] },
                        "points": { "bsonType": "int", "minimum": 1, "maximum": 100 },
                    },
                } },
                "total_score": { "bsonType": "int", "minimum": 0, "maximum": 100 },
                "passing_score": { "bsonType": "int", "minimum": 0, "maximum": 100 },
                "status": { "enum": ["in_progress", "submitted", "evaluated", "passed", "failed"] },
                "is_open": { "bsonType": "bool" },
            },
        }})
}

fn question_banks() -> CollectionSpec {
    CollectionSpec::new(QUALIFICATION_QUESTION_BANKS)
        .index(
            IndexModel::builder()
                .keys(doc! { "test_version": 1 })
                .options(IndexOptions::builder().unique(true).build())
                .build(),
        )
        // The current version is the newest.
        .index(index(doc! { "created_at": -1 }))
        .validator(doc! { "$jsonSchema": {
            "bsonType": "object",
            "required": [
                "test_version", "questions", "practical_weight", "passing_score", "created_by",
                "created_at",
            ],
            "properties": {
                "test_version": { "bsonType": "string", "maxLength": 200 },
                "questions": { "bsonType": "array", "minItems": 1, "maxItems": 50 },
                "practical_weight": { "bsonType": "int", "minimum": 0, "maximum": 100 },
                "passing_score": { "bsonType": "int", "minimum": 0, "maximum": 100 },
            },
        }})
}
