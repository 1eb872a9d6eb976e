//! The escrow domain: money held for a job, released to testers or refunded to the client.
//!
//! This crate will own the `escrow_transactions` collection (seed section 5) and the escrow and
//! payout state machines. Money is an exact integer of minor units plus a currency, never a float.
//!
//! It holds no code yet: the escrow issue fills it. Whether escrow reads marketplace jobs directly
//! or receives them as arguments is a design decision to be written in ARCHITECTURE.md then.
