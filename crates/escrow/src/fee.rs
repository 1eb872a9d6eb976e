//! The platform fee: how an approved seat's pay splits between the platform and the tester.
//!
//! Rounding rule: the fee is `gross × basis_points / 10 000` rounded **down** to the cent, and the
//! tester receives `gross − fee`. So fee + tester payout is always exactly the gross (no cent is
//! created or lost), the platform never takes more than its percentage, and any fraction of a cent
//! goes to the tester.

use foundation::Money;
use serde::{Deserialize, Serialize};

use crate::error::EscrowError;

/// One seat's pay, split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeSplit {
    /// What leaves escrow for this seat, in minor units.
    pub gross: i64,
    /// What the platform keeps.
    pub platform_fee: i64,
    /// What the tester receives.
    pub tester_payout: i64,
}

/// Splits `gross` minor units at `basis_points` (see the module docs for the rounding rule).
pub fn split_payout(gross: i64, basis_points: u32) -> Result<FeeSplit, EscrowError> {
    if gross < 0 {
        return Err(EscrowError::InvalidAmount {
            reason: "a payout cannot be negative".into(),
        });
    }
    if basis_points > 10_000 {
        return Err(EscrowError::InvalidAmount {
            reason: "a fee cannot exceed 100%".into(),
        });
    }
    let platform_fee = Money::new(gross, foundation::Currency::usd())
        .checked_basis_points(i64::from(basis_points))
        .map_err(|error| EscrowError::InvalidAmount {
            reason: error.to_string(),
        })?
        .amount_minor;
    Ok(FeeSplit {
        gross,
        platform_fee,
        tester_payout: gross - platform_fee,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fifteen_percent_of_twenty_five_dollars_is_three_seventy_five() {
        assert_eq!(
            split_payout(2_500, 1_500).unwrap(),
            FeeSplit {
                gross: 2_500,
                platform_fee: 375,
                tester_payout: 2_125
            }
        );
    }

    #[test]
    fn fractions_of_a_cent_go_to_the_tester() {
        // 15% of 9.99 is 1.4985: the platform keeps 1.49, the tester gets 8.50.
        assert_eq!(split_payout(999, 1_500).unwrap().platform_fee, 149);
        assert_eq!(split_payout(999, 1_500).unwrap().tester_payout, 850);
        // 15% of one cent rounds to nothing.
        assert_eq!(split_payout(1, 1_500).unwrap().tester_payout, 1);
    }

    #[test]
    fn zero_and_full_fees_are_exact() {
        assert_eq!(split_payout(0, 1_500).unwrap().platform_fee, 0);
        assert_eq!(split_payout(5_000, 0).unwrap().tester_payout, 5_000);
        assert_eq!(split_payout(5_000, 10_000).unwrap().platform_fee, 5_000);
    }

    #[test]
    fn negative_amounts_and_fees_above_everything_are_refused() {
        assert!(split_payout(-1, 1_500).is_err());
        assert!(split_payout(100, 10_001).is_err());
    }

    proptest! {
        #[test]
        fn the_split_always_adds_up_and_never_overcharges(
            gross in 0_i64..1_000_000_000_000,
            basis_points in 0_u32..=10_000,
        ) {
            let split = split_payout(gross, basis_points).unwrap();
            prop_assert_eq!(split.platform_fee + split.tester_payout, gross);
            prop_assert!(split.platform_fee >= 0 && split.tester_payout >= 0);
            prop_assert!(i128::from(split.platform_fee) * 10_000
                <= i128::from(gross) * i128::from(basis_points));
            prop_assert!((i128::from(split.platform_fee) + 1) * 10_000
                > i128::from(gross) * i128::from(basis_points));
        }
    }
}
