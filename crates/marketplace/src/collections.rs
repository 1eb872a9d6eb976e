//! The collections the marketplace owns (seed sections 2, 3, 4 and 9, plus the usage counters
//! behind the organization limits and the credential-read audit trail), with their indexes and
//! validators.

use bson::{doc, Document};
use foundation::CollectionSpec;
use mongodb::options::IndexOptions;
use mongodb::IndexModel;

/// Client projects (seed section 2).
pub const PROJECTS: &str = "projects";
/// Testing jobs with their seats (seed section 3).
pub const JOBS: &str = "jobs";
/// Tester submissions (seed section 4).
pub const SUBMISSIONS: &str = "submissions";
/// AI test templates (seed section 9).
pub const AI_TEST_TEMPLATES: &str = "ai_test_templates";
/// One document per organization (or client without one) counting its active projects and
/// running jobs, so `max_projects` and `max_concurrent_jobs` hold under concurrency. Its `_id`
/// is the owner's id; the field names are the seed's organization `usage` names.
pub const USAGE_COUNTERS: &str = "usage_counters";
/// The audit trail of project credential reads: who read which project's credentials, when and
/// through which job. Only ever inserted into.
pub const CREDENTIAL_READS: &str = "credential_reads";

fn index(keys: Document) -> IndexModel {
    IndexModel::builder().keys(keys).build()
}

fn unique(keys: Document) -> IndexModel {
    IndexModel::builder()
        .keys(keys)
        .options(IndexOptions::builder().unique(true).build())
        .build()
}

/// Every collection spec, in creation order.
pub fn specs() -> Vec<CollectionSpec> {
    vec![
        projects(),
        jobs(),
        submissions(),
        ai_test_templates(),
        usage_counters(),
        credential_reads(),
    ]
}

fn projects() -> CollectionSpec {
    CollectionSpec::new(PROJECTS)
        .index(index(doc! { "client_id": 1, "status": 1 }))
        .index(index(doc! { "organization_id": 1, "_id": -1 }))
        .index(index(doc! { "created_at": -1 }))
        .index(index(doc! { "name": "text", "description": "text" }))
        .validator(doc! { "$jsonSchema": {
            "bsonType": "object",
            "required": ["name", "client_id", "status", "created_at"],
            "properties": {
                "name": { "bsonType": "string", "minLength": 1 },
                "client_id": { "bsonType": "objectId" },
                "project_type": { "enum": ["web", "mobile", "api", "desktop"] },
                "environment": { "enum": ["production", "staging", "development"] },
                "status": { "enum": ["active", "archived", "draft"] },
            },
        }})
}

fn jobs() -> CollectionSpec {
    CollectionSpec::new(JOBS)
        .index(index(doc! { "project_id": 1 }))
        .index(index(doc! { "client_id": 1, "status": 1 }))
        .index(index(doc! { "status": 1, "visibility": 1 }))
        .index(index(doc! { "assigned_testers.tester_id": 1 }))
        .index(index(doc! { "published_at": -1 }))
        .index(index(doc! { "deadline": 1 }))
        .index(index(doc! { "test_type": 1 }))
        .index(index(doc! { "tester_level": 1, "status": 1 }))
        .index(index(doc! { "organization_id": 1, "status": 1 }))
        .index(index(doc! { "organization_id": 1, "_id": -1 }))
        .validator(doc! { "$jsonSchema": {
            "bsonType": "object",
            "required": [
                "project_id", "client_id", "title", "status", "visibility", "max_testers",
                "assigned_testers", "budget_per_tester_usd", "submission_count",
                "approved_submission_count", "bugs_found",
            ],
            "properties": {
                "project_id": { "bsonType": "objectId" },
                "client_id": { "bsonType": "objectId" },
                "title": { "bsonType": "string", "minLength": 1 },
                "status": { "enum": ["draft", "open", "in_progress", "review", "completed", "cancelled"] },
                "visibility": { "enum": ["public", "private", "invited_only"] },
                "tester_level": { "enum": ["beginner", "intermediate", "expert", "any"] },
                "max_testers": { "bsonType": "int", "minimum": 1 },
                "assigned_testers": { "bsonType": "array" },
                "budget_per_tester_usd": { "bsonType": "long", "minimum": 0 },
                "submission_count": { "bsonType": "int", "minimum": 0 },
                "approved_submission_count": { "bsonType": "int", "minimum": 0 },
                "bugs_found": { "bsonType": "int", "minimum": 0 },
            },
        }})
}

fn submissions() -> CollectionSpec {
    CollectionSpec::new(SUBMISSIONS)
        .index(index(doc! { "job_id": 1 }))
        .index(unique(doc! { "job_id": 1, "tester_id": 1 }))
        .index(index(doc! { "tester_id": 1, "status": 1 }))
        .index(index(doc! { "status": 1, "submitted_at": -1 }))
        .index(index(doc! { "payout_status": 1 }))
        .index(index(doc! { "created_at": -1 }))
        .validator(doc! { "$jsonSchema": {
            "bsonType": "object",
            "required": ["job_id", "tester_id", "status", "created_at"],
            "properties": {
                "job_id": { "bsonType": "objectId" },
                "tester_id": { "bsonType": "objectId" },
                "status": { "enum": [
                    "draft", "submitted", "under_review", "approved", "rejected",
                    "revision_requested",
                ] },
            },
        }})
}

fn ai_test_templates() -> CollectionSpec {
    CollectionSpec::new(AI_TEST_TEMPLATES)
        .index(index(doc! { "category": 1, "is_active": 1 }))
        .index(index(doc! { "is_premium": 1 }))
        .index(index(doc! { "usage_count": -1 }))
        .index(index(doc! { "name": "text", "description": "text" }))
        .validator(doc! { "$jsonSchema": {
            "bsonType": "object",
            "required": ["name", "category", "journey_template", "usage_count", "is_active"],
            "properties": {
                "name": { "bsonType": "string", "minLength": 1 },
                "category": { "enum": ["e-commerce", "saas", "mobile-app", "api", "general"] },
                "usage_count": { "bsonType": ["int", "long"], "minimum": 0 },
                "is_active": { "bsonType": "bool" },
            },
        }})
}

fn usage_counters() -> CollectionSpec {
    CollectionSpec::new(USAGE_COUNTERS)
        // Operators list the busiest organizations or clients (billing, plan upgrades).
        .index(index(doc! { "owner_type": 1, "active_jobs_count": -1 }))
        .validator(doc! { "$jsonSchema": {
            "bsonType": "object",
            "required": ["_id", "owner_type", "projects_count", "active_jobs_count", "updated_at"],
            "properties": {
                "_id": { "bsonType": "objectId" },
                "owner_type": { "enum": ["organization", "client"] },
                "projects_count": { "bsonType": "long", "minimum": 0 },
                "active_jobs_count": { "bsonType": "long", "minimum": 0 },
                "committed_cents": { "bsonType": "long", "minimum": 0 },
                "funded_day_cents": { "bsonType": "long", "minimum": 0 },
                "updated_at": { "bsonType": "date" },
            },
        }})
}

fn credential_reads() -> CollectionSpec {
    CollectionSpec::new(CREDENTIAL_READS)
        // The trail of one project, newest first.
        .index(index(doc! { "project_id": 1, "read_at": -1 }))
        .validator(doc! { "$jsonSchema": {
            "bsonType": "object",
            "required": ["project_id", "reader_id", "reader_kind", "read_at"],
            "properties": {
                "project_id": { "bsonType": "objectId" },
                "job_id": { "bsonType": "objectId" },
                "reader_id": { "bsonType": "objectId" },
                "reader_kind": { "enum": ["owner", "admin", "tester"] },
                "read_at": { "bsonType": "date" },
            },
        }})
}
