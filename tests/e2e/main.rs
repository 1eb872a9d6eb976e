//! End-to-end tests: each test starts the real gateway (`gateway::start`) on `127.0.0.1:0` over
//! the embedded store in a temporary directory, talks to it over HTTP, and reads side effects
//! through the official driver.

mod account_operations;
mod accounts;
mod authorization;
mod bad_input;
mod batching;
mod command_budgets;
mod cost_limits;
mod disputes;
mod document_cache;
mod email;
mod enhancement;
mod escrow;
mod graphql_over_http;
mod harness;
mod http_surface;
mod idempotency;
mod introspection;
mod marketplace;
mod marketplace_authorization;
mod money_attacks;
mod notifications;
mod organization_invitations;
mod organizations;
mod payment_methods;
mod payout_accounts;
mod persisted_documents;
mod qualifications;
mod ratings;
mod request_limits;
mod schema_evolution;

mod schema_truth;
mod sign_in_attacks;
mod smtp_server;
mod stripe;
mod subscriptions;
mod visibility_attacks;
mod webhooks;
mod websocket;
