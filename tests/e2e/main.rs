//! End-to-end tests: each test starts the real gateway (`gateway::start`) on `127.0.0.1:0` over
//! the embedded store in a temporary directory, talks to it over HTTP, and reads side effects
//! through the official driver.

mod accounts;
mod authorization;
mod batching;
mod enhancement;
mod escrow;
mod harness;
mod http_surface;
mod idempotency;
mod marketplace;
mod marketplace_authorization;
mod money_attacks;
mod organizations;
mod payment_methods;
mod payout_accounts;
mod ratings;
mod sign_in_attacks;
mod stripe;
mod visibility_attacks;
mod webhooks;
