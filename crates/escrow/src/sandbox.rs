//! [`Sandbox`]: the payment provider of the embedded setup. It settles every call at once and
//! deterministically (its ids are derived from the idempotency key), honours idempotency keys the
//! way a real provider does (same key, same answer, no second movement; same key with other
//! parameters, an error), and keeps a list of the money it moved so tests can count it.

use std::collections::HashMap;

use foundation::Money;
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use crate::provider::{
    Authorization, AuthorizeRequest, CancelAuthorizationRequest, Capture, CaptureRequest,
    PaymentProvider, ProviderError, ProviderName, ProviderRefund, RefundRequest, Transfer,
    TransferRequest,
};

/// What kind of movement the sandbox made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SandboxMovementKind {
    /// A payment was authorized.
    Authorized,
    /// A payment was captured (money in).
    Captured,
    /// An authorization was cancelled.
    Cancelled,
    /// Money went back to a client.
    Refunded,
    /// Money went to a tester.
    Transferred,
}

/// One movement the sandbox made, once per idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxMovement {
    /// The kind.
    pub kind: SandboxMovementKind,
    /// The amount in minor units (zero for cancellations).
    pub amount_minor: i64,
    /// The id the sandbox answered with.
    pub reference: String,
    /// The idempotency key of the call.
    pub idempotency_key: String,
}

#[derive(Debug, Default)]
struct SandboxState {
    /// Idempotency key → (the call's parameters, the answer given).
    answers: HashMap<String, (String, String)>,
    movements: Vec<SandboxMovement>,
}

/// The deterministic, instantly settling provider (identifies itself as `SANDBOX`).
#[derive(Debug, Default)]
pub struct Sandbox {
    state: Mutex<SandboxState>,
}

impl Sandbox {
    /// A sandbox that has moved nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every movement so far, in order.
    pub fn movements(&self) -> Vec<SandboxMovement> {
        self.state.lock().movements.clone()
    }

    /// The sum of the movements of `kind`, in minor units.
    pub fn total(&self, kind: SandboxMovementKind) -> i64 {
        self.state
            .lock()
            .movements
            .iter()
            .filter(|movement| movement.kind == kind)
            .map(|movement| movement.amount_minor)
            .sum()
    }

    /// How many movements of `kind` were made.
    pub fn count(&self, kind: SandboxMovementKind) -> usize {
        self.state
            .lock()
            .movements
            .iter()
            .filter(|movement| movement.kind == kind)
            .count()
    }

    /// Answers a call once per key: the first call moves money and remembers its answer, a
    /// repeat returns that answer, a repeat with other parameters is refused.
    fn settle(
        &self,
        key: &str,
        parameters: String,
        prefix: &str,
        kind: SandboxMovementKind,
        amount: Option<&Money>,
    ) -> Result<String, ProviderError> {
        if key.is_empty() {
            return Err(ProviderError::Declined {
                reason: "an idempotency key is required".into(),
            });
        }
        if amount.is_some_and(|amount| amount.amount_minor < 0) {
            return Err(ProviderError::Declined {
                reason: "negative amount".into(),
            });
        }
        let mut state = self.state.lock();
        if let Some((known_parameters, answer)) = state.answers.get(key) {
            return if *known_parameters == parameters {
                Ok(answer.clone())
            } else {
                Err(ProviderError::IdempotencyMismatch { key: key.into() })
            };
        }
        let digest = hex::encode(Sha256::digest(key.as_bytes()));
        let reference = format!("{prefix}_sandbox_{}", &digest[..24]);
        state
            .answers
            .insert(key.to_owned(), (parameters, reference.clone()));
        state.movements.push(SandboxMovement {
            kind,
            amount_minor: amount.map_or(0, |amount| amount.amount_minor),
            reference: reference.clone(),
            idempotency_key: key.to_owned(),
        });
        Ok(reference)
    }
}

impl PaymentProvider for Sandbox {
    fn name(&self) -> ProviderName {
        ProviderName::Sandbox
    }

    fn authorize(
        &self,
        request: AuthorizeRequest,
    ) -> BoxFuture<'_, Result<Authorization, ProviderError>> {
        let parameters = format!(
            "authorize|{}|{}|{}|{}",
            request.escrow_id, request.client_id, request.amount, request.transfer_group
        );
        let answer = self
            .settle(
                &request.idempotency_key,
                parameters,
                "pi",
                SandboxMovementKind::Authorized,
                Some(&request.amount),
            )
            .map(|payment_id| Authorization { payment_id });
        Box::pin(async move { answer })
    }

    fn capture(&self, request: CaptureRequest) -> BoxFuture<'_, Result<Capture, ProviderError>> {
        let parameters = format!("capture|{}|{}", request.payment_id, request.amount);
        let answer = self
            .settle(
                &request.idempotency_key,
                parameters,
                "ch",
                SandboxMovementKind::Captured,
                Some(&request.amount),
            )
            .map(|charge_id| Capture { charge_id });
        Box::pin(async move { answer })
    }

    fn cancel_authorization(
        &self,
        request: CancelAuthorizationRequest,
    ) -> BoxFuture<'_, Result<(), ProviderError>> {
        let parameters = format!("cancel|{}", request.payment_id);
        let answer = self
            .settle(
                &request.idempotency_key,
                parameters,
                "pi_cancel",
                SandboxMovementKind::Cancelled,
                None,
            )
            .map(|_| ());
        Box::pin(async move { answer })
    }

    fn refund(
        &self,
        request: RefundRequest,
    ) -> BoxFuture<'_, Result<ProviderRefund, ProviderError>> {
        let parameters = format!("refund|{}|{}", request.payment_id, request.amount);
        let answer = self
            .settle(
                &request.idempotency_key,
                parameters,
                "re",
                SandboxMovementKind::Refunded,
                Some(&request.amount),
            )
            .map(|refund_id| ProviderRefund { refund_id });
        Box::pin(async move { answer })
    }

    fn transfer(&self, request: TransferRequest) -> BoxFuture<'_, Result<Transfer, ProviderError>> {
        let parameters = format!(
            "transfer|{}|{}|{}|{}",
            request.payout_id, request.tester_id, request.amount, request.transfer_group
        );
        let answer = self
            .settle(
                &request.idempotency_key,
                parameters,
                "tr",
                SandboxMovementKind::Transferred,
                Some(&request.amount),
            )
            .map(|transfer_id| Transfer { transfer_id });
        Box::pin(async move { answer })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::oid::ObjectId;
    use foundation::Currency;

    fn transfer(key: &str, cents: i64) -> TransferRequest {
        TransferRequest {
            idempotency_key: key.into(),
            payout_id: ObjectId::from_bytes([1; 12]),
            tester_id: ObjectId::from_bytes([2; 12]),
            amount: Money::new(cents, Currency::usd()),
            transfer_group: "job_x".into(),
        }
    }

    #[tokio::test]
    async fn a_repeated_key_returns_the_first_answer_and_moves_nothing_more() {
        let sandbox = Sandbox::new();
        let first = sandbox.transfer(transfer("k1", 2_125)).await.unwrap();
        let again = sandbox.transfer(transfer("k1", 2_125)).await.unwrap();
        assert_eq!(first, again);
        assert!(first.transfer_id.starts_with("tr_sandbox_"));
        assert_eq!(sandbox.total(SandboxMovementKind::Transferred), 2_125);
        assert_eq!(sandbox.count(SandboxMovementKind::Transferred), 1);
    }

    #[tokio::test]
    async fn a_key_reused_with_another_amount_is_refused() {
        let sandbox = Sandbox::new();
        sandbox.transfer(transfer("k1", 2_125)).await.unwrap();
        assert_eq!(
            sandbox.transfer(transfer("k1", 9_999)).await,
            Err(ProviderError::IdempotencyMismatch { key: "k1".into() })
        );
        assert_eq!(sandbox.count(SandboxMovementKind::Transferred), 1);
    }

    #[test]
    fn ids_are_derived_from_the_key_so_a_restarted_sandbox_answers_the_same() {
        let first = Sandbox::new()
            .settle("k", "p".into(), "re", SandboxMovementKind::Refunded, None)
            .unwrap();
        let second = Sandbox::new()
            .settle("k", "p".into(), "re", SandboxMovementKind::Refunded, None)
            .unwrap();
        assert_eq!(first, second);
        assert_eq!(Sandbox::new().name().as_str(), "SANDBOX");
    }
}
