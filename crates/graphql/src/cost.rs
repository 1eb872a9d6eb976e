//! Per-caller budgets by cost, not by request count: every operation's complexity (the number
//! async-graphql's validation computes, each field and alias counting, connections their page
//! size, plus one per `__typename`) is charged against a GCRA bucket (`governor`) of its caller:
//! the signed-in user, the API key (its budget set by the organization's plan) or, for anonymous
//! callers, the client address. A spent budget refuses the operation before any resolver runs
//! with `RATE_LIMITED` and `retryAfterSeconds` (the gateway answers 429 with `Retry-After`);
//! every executed operation reports `extensions.cost`.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_graphql::extensions::ExtensionContext;
use async_graphql::{Response, ServerError, ValidationResult, Value};
use bson::oid::ObjectId;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use identity::{OrganizationPlan, Principal};

use crate::error::ErrorCode;
use crate::viewer::{RequestMeta, Viewer};

/// Cost budgets per minute, by kind of caller. Each is also the largest burst, so it must be at
/// least the schema's complexity limit (the gateway's configuration checks that).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CostBudgets {
    /// A signed-in user.
    pub user_per_minute: u32,
    /// An anonymous caller, per client address.
    pub address_per_minute: u32,
    /// An API key of a `team` organization.
    pub team_key_per_minute: u32,
    /// An API key of an `enterprise` organization.
    pub enterprise_key_per_minute: u32,
}

impl Default for CostBudgets {
    fn default() -> Self {
        CostBudgets {
            user_per_minute: 100_000,
            address_per_minute: 50_000,
            team_key_per_minute: 200_000,
            enterprise_key_per_minute: 1_000_000,
        }
    }
}

/// The `__typename` selections of the request's document (counted by `crate::limits`), added
/// to async-graphql's complexity, which leaves them out.
#[derive(Debug, Clone, Copy)]
pub struct TypenameSelections(pub usize);

/// Whose bucket an operation is charged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Caller {
    User(ObjectId),
    Key(ObjectId),
    Address(IpAddr),
}

type Limiter =
    RateLimiter<Caller, DefaultKeyedStateStore<Caller>, DefaultClock, StateInformationMiddleware>;

/// How often (in charges) buckets back at full capacity are forgotten, so the table of
/// addresses stays bounded by the callers active in the last minute.
const FORGET_EVERY: u64 = 4_096;

/// The buckets of every caller; one per schema, shared by all requests.
pub struct CostLimiter {
    budgets: CostBudgets,
    users: Limiter,
    addresses: Limiter,
    team_keys: Limiter,
    enterprise_keys: Limiter,
    charges: AtomicU64,
}

/// What one operation cost and what is left, reported in `extensions.cost` and the gateway's
/// `RateLimit` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CostReport {
    /// The operation's complexity.
    pub requested: u32,
    /// The caller's budget per minute.
    pub limit: u32,
    /// What the caller may still spend right now.
    pub remaining: u32,
    /// Seconds until the whole budget is back.
    pub reset_seconds: u64,
}

impl CostReport {
    /// As the `extensions.cost` object.
    pub fn to_value(self) -> Value {
        let mut object = async_graphql::indexmap::IndexMap::new();
        object.insert(
            async_graphql::Name::new("requested"),
            Value::from(self.requested),
        );
        object.insert(async_graphql::Name::new("limit"), Value::from(self.limit));
        object.insert(
            async_graphql::Name::new("remaining"),
            Value::from(self.remaining),
        );
        object.insert(
            async_graphql::Name::new("windowSeconds"),
            Value::from(60u32),
        );
        object.insert(
            async_graphql::Name::new("resetSeconds"),
            Value::from(self.reset_seconds),
        );
        Value::Object(object)
    }
}

fn limiter(per_minute: u32) -> Limiter {
    let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
    RateLimiter::keyed(Quota::per_minute(per_minute))
        .with_middleware::<StateInformationMiddleware>()
}

impl CostLimiter {
    /// Empty buckets for `budgets`.
    pub fn new(budgets: CostBudgets) -> CostLimiter {
        CostLimiter {
            budgets,
            users: limiter(budgets.user_per_minute),
            addresses: limiter(budgets.address_per_minute),
            team_keys: limiter(budgets.team_key_per_minute),
            enterprise_keys: limiter(budgets.enterprise_key_per_minute),
            charges: AtomicU64::new(0),
        }
    }

    fn bucket(
        &self,
        viewer: Option<&Viewer>,
        meta: Option<&RequestMeta>,
    ) -> (&Limiter, u32, Caller) {
        match viewer {
            Some(Viewer::Authenticated(Principal::User(user))) => (
                &self.users,
                self.budgets.user_per_minute,
                Caller::User(user.user_id),
            ),
            Some(Viewer::Authenticated(Principal::ApiKey(key))) => match key.plan {
                OrganizationPlan::Team => (
                    &self.team_keys,
                    self.budgets.team_key_per_minute,
                    Caller::Key(key.api_key_id),
                ),
                OrganizationPlan::Enterprise => (
                    &self.enterprise_keys,
                    self.budgets.enterprise_key_per_minute,
                    Caller::Key(key.api_key_id),
                ),
            },
            _ => (
                &self.addresses,
                self.budgets.address_per_minute,
                Caller::Address(
                    meta.map(|meta| meta.client_ip)
                        .unwrap_or(IpAddr::from([0, 0, 0, 0])),
                ),
            ),
        }
    }

    /// Charges `cost` to the caller's bucket: the report when it fits, else the seconds to wait.
    fn charge(
        &self,
        viewer: Option<&Viewer>,
        meta: Option<&RequestMeta>,
        cost: usize,
    ) -> Result<CostReport, (u64, CostReport)> {
        if self.charges.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY == FORGET_EVERY - 1 {
            for limiter in [
                &self.users,
                &self.addresses,
                &self.team_keys,
                &self.enterprise_keys,
            ] {
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
        }
        let (limiter, limit, caller) = self.bucket(viewer, meta);
        let requested = u32::try_from(cost.max(1)).unwrap_or(u32::MAX);
        let report = |remaining: u32| CostReport {
            requested,
            limit,
            remaining,
            reset_seconds: u64::from(limit - remaining.min(limit)) * 60 / u64::from(limit.max(1)),
        };
        let amount = NonZeroU32::new(requested).unwrap_or(NonZeroU32::MIN);
        match limiter.check_key_n(&caller, amount) {
            Ok(Ok(snapshot)) => Ok(report(snapshot.remaining_burst_capacity())),
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Err((wait.as_secs().max(1), report(0)))
            }
            // More than the whole budget: the configuration keeps budgets above the
            // complexity limit, so only a misconfiguration gets here; wait a full window.
            Err(_) => Err((60, report(0))),
        }
    }
}

/// Charges one request's operation after validation and reports its cost in the response
/// (one per request, part of [`crate::extension::Gateway`]).
pub(crate) struct OperationCost {
    limiter: Arc<CostLimiter>,
    report: Mutex<Option<CostReport>>,
}

impl OperationCost {
    pub(crate) fn new(limiter: Arc<CostLimiter>) -> Self {
        OperationCost {
            limiter,
            report: Mutex::new(None),
        }
    }

    /// Charges the validated operation to its caller, or refuses it with `RATE_LIMITED`.
    pub(crate) fn charge(
        &self,
        ctx: &ExtensionContext<'_>,
        result: ValidationResult,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let viewer = ctx.data_opt::<Viewer>();
        let meta = ctx.data_opt::<RequestMeta>();
        let typenames = ctx
            .data_opt::<TypenameSelections>()
            .map_or(0, |selections| selections.0);
        match self
            .limiter
            .charge(viewer, meta, result.complexity.saturating_add(typenames))
        {
            Ok(report) => {
                if let Ok(mut slot) = self.report.lock() {
                    *slot = Some(report);
                }
                Ok(result)
            }
            Err((retry_after, report)) => {
                let mut error = ServerError::new(
                    format!(
                        "this operation costs {} and the caller's budget of {} per minute is spent; retry in {retry_after} s",
                        report.requested, report.limit
                    ),
                    None,
                );
                let mut extensions = async_graphql::ErrorExtensionValues::default();
                extensions.set("code", ErrorCode::RateLimited.as_str());
                extensions.set("retryAfterSeconds", retry_after);
                extensions.set("cost", report.to_value());
                error.extensions = Some(extensions);
                Err(vec![error])
            }
        }
    }

    /// Adds `extensions.cost` to an executed operation's response.
    pub(crate) fn report(&self, response: &mut Response) {
        let report = self.report.lock().ok().and_then(|mut slot| slot.take());
        if let Some(report) = report {
            response
                .extensions
                .insert("cost".to_string(), report.to_value());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: ObjectId) -> Viewer {
        Viewer::Authenticated(Principal::User(identity::UserPrincipal {
            user_id: id,
            role: identity::Role::Client,
            session_id: ObjectId::new(),
        }))
    }

    #[test]
    fn a_caller_that_spends_its_budget_is_refused_and_others_are_not() {
        let limiter = CostLimiter::new(CostBudgets {
            user_per_minute: 100,
            ..CostBudgets::default()
        });
        let spender = user(ObjectId::new());
        let other = user(ObjectId::new());
        let first = limiter.charge(Some(&spender), None, 70).expect("fits");
        assert_eq!(
            (first.requested, first.limit, first.remaining),
            (70, 100, 30)
        );
        let (wait, refused) = limiter.charge(Some(&spender), None, 70).unwrap_err();
        assert!(wait >= 1, "{wait}");
        assert_eq!(refused.remaining, 0);
        assert_eq!(
            limiter
                .charge(Some(&other), None, 70)
                .expect("own budget")
                .remaining,
            30
        );
    }
}
