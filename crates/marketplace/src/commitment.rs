//! Money an account commits to its jobs, held to [`MoneyLimits`]: seats and the budget of one job
//! (checked on the job's own numbers), the total an account has committed at once, and what a new
//! account may fund per day.
//!
//! The account limits live on the owner's `usage_counters` document, next to the job and project
//! counts: `committed_cents` is the total budget of the owner's jobs whose `budget_reserved` is set
//! (from the reservation before funding until the job is completed or cancelled), and
//! `funded_day` / `funded_day_cents` is what was reserved on one UTC day. A publish reserves its
//! budget *before* funding, in one transaction: a conditional `$inc` that matches only while the
//! new total stays within the limit, and the compare-and-set of the job's `budget_reserved`.
//! Racing publishes write the same counter document, so one commits and the others run again
//! against its value: 50 concurrent publishes cannot pass a limit together, and a refused publish
//! charged nothing. A failed funding gives the reservation back; completing or cancelling the job
//! gives it back in the transaction that moves the job.

use bson::oid::ObjectId;
use bson::{doc, Document};
use futures_util::TryStreamExt;
use mongodb::ClientSession;

use crate::actor::PayerStanding;
use crate::error::MarketplaceError;
use crate::job::{Job, JobStatus};
use crate::service::MarketplaceService;
use crate::settings::MoneyLimits;
use crate::usage::{ExistingCounter, UsageOwner};

const DAY_MILLIS: i64 = 86_400_000;

/// The total budget of a job with `seats` seats paying `per_tester_cents` each, if the limits
/// allow it; `field` errors name the input at fault.
pub(crate) fn job_budget(
    limits: &MoneyLimits,
    seats: i32,
    per_tester_cents: i64,
) -> Result<i64, MarketplaceError> {
    if seats < 1 || seats > limits.max_seats_per_job {
        return Err(MarketplaceError::InvalidInput {
            field: "max_testers",
            reason: format!("must be 1 to {}", limits.max_seats_per_job),
        });
    }
    if per_tester_cents < 0 {
        return Err(MarketplaceError::InvalidInput {
            field: "budget_per_tester_cents",
            reason: "must not be negative".into(),
        });
    }
    let total = per_tester_cents
        .checked_mul(i64::from(seats))
        .filter(|total| *total <= limits.max_job_budget_cents)
        .ok_or_else(|| MarketplaceError::InvalidInput {
            field: "budget_per_tester_cents",
            reason: format!(
                "the job's total budget (seats × pay per tester) may be at most {} cents",
                limits.max_job_budget_cents
            ),
        })?;
    Ok(total)
}

/// The UTC day (days since the epoch) `millis` falls on.
fn utc_day(millis: i64) -> i64 {
    millis.div_euclid(DAY_MILLIS)
}

impl MarketplaceService {
    /// Reserves `job`'s total budget for its owner before funding: refuses when the owner's
    /// committed total or, for a new account, today's funding would pass its limit. A job already
    /// reserved (a publish that stopped after reserving) is not reserved twice. Returns the UTC
    /// day the reservation counted against, or `None` when it was already reserved.
    pub(crate) async fn reserve_job_budget(
        &self,
        job: &Job,
        payer: PayerStanding,
    ) -> Result<Option<i64>, MarketplaceError> {
        let owner = UsageOwner::of(job.client_id, job.organization_id);
        self.in_transaction(|mut session| async move {
            let outcome = self.reserve_steps(&mut session, owner, job, payer).await;
            (session, outcome)
        })
        .await
    }

    async fn reserve_steps(
        &self,
        session: &mut ClientSession,
        owner: UsageOwner,
        job: &Job,
        payer: PayerStanding,
    ) -> Result<Option<i64>, MarketplaceError> {
        let limits = &self.settings.money;
        let counter = self.usage_counter(session, owner).await?;
        let reserved = self
            .jobs
            .update_one(
                // The budget as the publish read it: a draft edit that landed since then makes
                // this match nothing, so a stale amount is never reserved or funded.
                doc! {
                    "_id": job.id,
                    "status": JobStatus::Draft.as_str(),
                    "budget_reserved": { "$ne": true },
                    "total_budget_usd": job.total_budget_cents,
                },
                doc! { "$set": { "budget_reserved": true, "updated_at": self.now() } },
            )
            .session(&mut *session)
            .await?;
        if reserved.matched_count == 0 {
            // Already reserved by an earlier publish of this draft, or no longer a draft: the
            // publish's compare-and-set decides which.
            return Ok(None);
        }
        let amount = job.total_budget_cents;
        let room = limits.max_account_committed_cents - amount;
        let taken = self
            .usage_counters
            .update_one(
                doc! { "_id": counter.id(), "committed_cents": { "$lte": room } },
                doc! { "$inc": { "committed_cents": amount } },
            )
            .session(&mut *session)
            .await?;
        if taken.matched_count == 0 {
            let committed = self
                .counter_value(session, &counter, "committed_cents")
                .await?;
            return Err(MarketplaceError::AccountBudgetLimitReached {
                committed,
                requested: amount,
                limit: limits.max_account_committed_cents,
            });
        }
        let now = self.now();
        let today = utc_day(now.timestamp_millis());
        self.usage_counters
            .update_one(
                doc! { "_id": counter.id(), "funded_day": { "$ne": today } },
                doc! { "$set": { "funded_day": today, "funded_day_cents": 0_i64 } },
            )
            .session(&mut *session)
            .await?;
        let young = now.timestamp_millis() - payer.account_created_at.timestamp_millis()
            < i64::try_from(limits.new_account_age.as_millis()).unwrap_or(i64::MAX);
        let mut filter = doc! { "_id": counter.id() };
        if young {
            let room = limits.new_account_daily_funding_cents - amount;
            filter.insert("funded_day_cents", doc! { "$lte": room });
        }
        let counted = self
            .usage_counters
            .update_one(
                filter,
                doc! { "$inc": { "funded_day_cents": amount }, "$set": { "updated_at": now } },
            )
            .session(&mut *session)
            .await?;
        if counted.matched_count == 0 {
            let funded = self
                .counter_value(session, &counter, "funded_day_cents")
                .await?;
            return Err(MarketplaceError::DailyFundingLimitReached {
                funded,
                requested: amount,
                limit: limits.new_account_daily_funding_cents,
            });
        }
        Ok(Some(today))
    }

    /// Gives back a reservation whose funding failed, while the job is still a draft; the day's
    /// funding is given back too when it is still that day.
    pub(crate) async fn release_failed_reservation(
        &self,
        job: &Job,
        day: i64,
    ) -> Result<(), MarketplaceError> {
        let owner = UsageOwner::of(job.client_id, job.organization_id);
        self.in_transaction(|mut session| async move {
            let outcome = async {
                let counter = self.usage_counter(&mut session, owner).await?;
                let released = self
                    .release_job_budget(&mut session, &counter, job.id, JobStatus::Draft)
                    .await?;
                if released {
                    self.usage_counters
                        .update_one(
                            doc! { "_id": counter.id(), "funded_day": day },
                            doc! { "$inc": { "funded_day_cents": -job.total_budget_cents } },
                        )
                        .session(&mut session)
                        .await?;
                }
                Ok(())
            }
            .await;
            (session, outcome)
        })
        .await
    }

    /// Inside the caller's transaction: clears the job's `budget_reserved` (while it is in
    /// `status`) and takes its budget off the owner's committed total. `false` when the job held
    /// no reservation.
    pub(crate) async fn release_job_budget(
        &self,
        session: &mut ClientSession,
        counter: &ExistingCounter,
        job_id: ObjectId,
        status: JobStatus,
    ) -> Result<bool, MarketplaceError> {
        let released = self
            .jobs
            .find_one_and_update(
                doc! { "_id": job_id, "status": status.as_str(), "budget_reserved": true },
                doc! { "$set": { "budget_reserved": false } },
            )
            .session(&mut *session)
            .await?;
        let Some(job) = released else {
            return Ok(false);
        };
        self.usage_counters
            .update_one(
                doc! { "_id": counter.id() },
                doc! { "$inc": { "committed_cents": -job.total_budget_cents } },
            )
            .session(&mut *session)
            .await?;
        Ok(true)
    }

    /// The owner's committed total from its jobs, for a counter created (or first used) now.
    pub(crate) async fn committed_cents_of(
        &self,
        session: &mut ClientSession,
        owner: UsageOwner,
    ) -> Result<i64, MarketplaceError> {
        let mut filter = owner.owns();
        filter.insert("budget_reserved", true);
        let jobs: Vec<Job> = self
            .jobs
            .find(filter)
            .session(&mut *session)
            .await?
            .stream(&mut *session)
            .try_collect()
            .await?;
        Ok(jobs.iter().map(|job| job.total_budget_cents).sum())
    }

    async fn counter_value(
        &self,
        session: &mut ClientSession,
        counter: &ExistingCounter,
        field: &str,
    ) -> Result<i64, MarketplaceError> {
        let stored: Option<Document> = self
            .usage_counters
            .find_one(doc! { "_id": counter.id() })
            .session(&mut *session)
            .await?;
        Ok(stored
            .and_then(|stored| stored.get_i64(field).ok())
            .unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seats_outside_one_to_the_limit_are_refused() {
        let limits = MoneyLimits::default();
        for seats in [0, -1, 101, 1_000_000, i32::MAX] {
            let error = job_budget(&limits, seats, 100).expect_err("refused");
            assert!(
                matches!(
                    error,
                    MarketplaceError::InvalidInput {
                        field: "max_testers",
                        ..
                    }
                ),
                "{seats}: {error:?}"
            );
        }
        assert_eq!(job_budget(&limits, 100, 100).expect("allowed"), 10_000);
        assert_eq!(job_budget(&limits, 1, 0).expect("allowed"), 0);
    }

    #[test]
    fn a_budget_over_the_job_cap_or_overflowing_is_refused() {
        let limits = MoneyLimits::default();
        let cap = limits.max_job_budget_cents;
        assert_eq!(job_budget(&limits, 1, cap).expect("exactly the cap"), cap);
        for (seats, cents) in [
            (1, cap + 1),
            (100, 100_000_000),
            (100, i64::MAX),
            (2, i64::MAX / 2 + 1),
        ] {
            let error = job_budget(&limits, seats, cents).expect_err("refused");
            assert!(
                matches!(
                    error,
                    MarketplaceError::InvalidInput {
                        field: "budget_per_tester_cents",
                        ..
                    }
                ),
                "{seats} × {cents}: {error:?}"
            );
        }
        assert!(job_budget(&limits, 1, -1).is_err());
    }

    #[test]
    fn utc_days_start_at_midnight() {
        assert_eq!(utc_day(0), 0);
        assert_eq!(utc_day(DAY_MILLIS - 1), 0);
        assert_eq!(utc_day(DAY_MILLIS), 1);
        assert_eq!(utc_day(-1), -1);
    }
}
