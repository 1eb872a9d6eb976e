//! The trust domain: ratings between clients and testers, disputes, and tester qualification tests.
//!
//! This crate will own the `ratings`, `disputes` and `qualification_tests` collections (seed
//! sections 6, 7 and 10) and the dispute state machine.
//!
//! It holds no code yet: the trust issue fills it.
