//! The marketplace domain: projects, jobs, tester assignments, submissions and AI test templates.
//!
//! This crate will own the `projects`, `jobs`, `submissions` and `ai_test_templates` collections
//! (seed sections 2, 3, 4 and 9): their indexes and validators, the job and submission state
//! machines (each an enum plus one transition table applied by compare-and-set in MongoDB), and the
//! organization limits on projects and concurrent jobs that identity records but does not enforce.
//!
//! It holds no code yet: the marketplace issue fills it. It will depend on `foundation` only and
//! ask `identity` for users and organizations through identity's public API.
