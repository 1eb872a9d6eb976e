//! The trust domain: ratings between clients and testers (seed section 7), disputes about a
//! reviewed submission (section 6), testers' qualification tests (section 10), and client
//! accountability (how a client treats testers' work, which testers see on jobs).
//!
//! **Owns** the `ratings` and `disputes` collections with their indexes and validators
//! ([`TrustService::collections`]). Ratings are double-blind: hidden from the other side until
//! both sides rated or 14 days passed since the review, then revealed together by one
//! compare-and-set inside a transaction that also adds them to the rated users' exact totals
//! through the [`RatingTotals`] seam ([`UsersRatingTotals`] writes `users.tester_data` /
//! `client_data`). A revealed rating is recorded as a `rating_received` domain event in the reveal's transaction.
//!
//! **Is not**: a marketplace or identity crate. It reads submissions and jobs through
//! [`marketplace::MarketplaceService`]'s public API (the caller arrives as a marketplace
//! [`marketplace::Actor`]), knows nothing of GraphQL or HTTP, and reads no configuration.
//! A dispute's money moves through escrow (`trust → escrow`), inside the transaction that
//! changes the dispute (`dispute.rs`). Qualification tests (section 10, `qualification.rs`) set
//! the tester's standing on `users.tester_data` in the evaluation's transaction.

mod accountability;
pub mod collections;
mod dispute;
mod error;
mod qualification;
mod rating;
mod service;
mod totals;
mod transaction;

pub use accountability::{
    client_lost, review_figures, ClientAccountability, ACCOUNTABILITY_DISPUTE_LIMIT,
};
pub use dispute::{
    check_https_url, dispute_transition, dispute_visible_to, settlement_for, validate_new_dispute,
    Dispute, DisputeAction, DisputeMessage, DisputePriority, DisputeQueueFilter, DisputeReason,
    DisputeStatus, Evidence, EvidenceInput, EvidenceType, NewDispute, RaisedByRole, Resolution,
    ResolutionType, DISPUTE_TRANSITIONS, MAX_ATTACHMENTS, MAX_DESCRIPTION_CHARS, MAX_EVIDENCE,
    MAX_EVIDENCE_DESCRIPTION_CHARS, MAX_MESSAGES, MAX_MESSAGE_CHARS, MAX_RESOLUTION_CHARS,
    MAX_URL_CHARS,
};
pub use error::TrustError;
pub use qualification::{
    qualification_test_visible_to, total_score, validate_question_bank, BankQuestion, Evaluation,
    NewQuestionBank, PracticalTask, QualificationTest, QuestionBank, QuestionType, TestQuestion,
    TestStatus, TestType, DEFAULT_PASSING_SCORE, DEFAULT_PRACTICAL_WEIGHT, MAX_ANSWER_CHARS,
    MAX_CHOICES, MAX_IMPROVEMENTS, MAX_QUESTIONS, MAX_QUESTION_POINTS, MAX_SHORT_CHARS,
    MAX_TEXT_CHARS, QUALIFICATION_VALIDITY, RECERTIFICATION_WINDOW, RETAKE_COOLDOWN,
};
pub use rating::{
    rating_visible_to, reveal_due, validate_rating, DetailRatings, RatedRole, Rating, RatingInput,
    RatingSummary, MAX_POINTS, MAX_POINT_CHARS, MAX_RESPONSE_CHARS, MAX_REVIEW_CHARS, REVEAL_AFTER,
};
pub use service::TrustService;
pub use totals::{totals_pipeline, RatingTotals, RevealedRating, UsersRatingTotals};
