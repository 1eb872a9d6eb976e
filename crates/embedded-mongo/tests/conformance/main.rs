//! The conformance suite: MongoDB's documented behaviour, checked through the official Rust
//! driver against an in-process embedded server. Each module covers one area of the issue's
//! "Commands", "Languages" and "Indexes, validation, transactions, change streams" lists.

mod aggregation;
mod change_streams;
mod collation;
mod commands;
mod connection;
mod fail_points;
mod fixture;
mod hints;
mod indexes;
mod let_variables;
mod local_sessions;
mod output_stages;
mod query_operators;
mod rename;
mod search_indexes;
mod surface;
mod transactions;
mod update_operators;
mod validation;
mod views;
