//! Logical sessions: multi-document transactions (`txnNumber`, `startTransaction`,
//! `autocommit: false`, commit and abort) and retryable writes (a write retried with the same
//! `lsid` and `txnNumber` returns the first reply instead of running again).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bson::{Bson, Document};
use parking_lot::Mutex;

use crate::error::{codes, CommandError, CommandResult};
use crate::storage::{Store, Transaction};

/// Sessions idle for longer than this are forgotten (`logicalSessionTimeoutMinutes`).
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The label drivers look for to retry a whole transaction.
pub const TRANSIENT_TRANSACTION_ERROR: &str = "TransientTransactionError";

/// The session fields of a command that carries a `txnNumber`.
#[derive(Debug, Clone, PartialEq)]
pub struct TransactionArguments {
    /// `lsid.id`, rendered as a map key.
    pub session_key: String,
    pub txn_number: i64,
    /// `Some(false)` inside a multi-document transaction; `None` for a retryable write.
    pub autocommit: Option<bool>,
    pub start_transaction: bool,
}

impl TransactionArguments {
    /// Reads `lsid`, `txnNumber`, `autocommit` and `startTransaction`; `None` when the command
    /// has no `txnNumber` (neither a transaction nor a retryable write).
    pub fn parse(body: &Document) -> CommandResult<Option<TransactionArguments>> {
        let txn_number = match body.get("txnNumber") {
            None => {
                if body.contains_key("autocommit") || body.contains_key("startTransaction") {
                    return Err(CommandError::new(
                        codes::INVALID_OPTIONS,
                        "'autocommit' and 'startTransaction' require a 'txnNumber'",
                    ));
                }
                return Ok(None);
            }
            Some(Bson::Int64(number)) => *number,
            Some(Bson::Int32(number)) => i64::from(*number),
            Some(other) => {
                return Err(CommandError::type_mismatch(format!(
                    "txnNumber must be of type long, not {:?}",
                    other.element_type()
                )))
            }
        };
        let Some(session_key) = session_key(body) else {
            return Err(CommandError::new(
                codes::INVALID_OPTIONS,
                "Transaction number requires a session ID to also be specified",
            ));
        };
        let autocommit = match body.get("autocommit") {
            None => None,
            Some(Bson::Boolean(false)) => Some(false),
            Some(Bson::Boolean(true)) => {
                return Err(CommandError::new(
                    codes::INVALID_OPTIONS,
                    "autocommit must be false when specified",
                ))
            }
            Some(_) => return Err(CommandError::type_mismatch("autocommit must be a boolean")),
        };
        let start_transaction = match body.get("startTransaction") {
            None => false,
            Some(Bson::Boolean(true)) => true,
            Some(_) => {
                return Err(CommandError::new(
                    codes::INVALID_OPTIONS,
                    "startTransaction must be true when specified",
                ))
            }
        };
        if start_transaction && autocommit.is_none() {
            return Err(CommandError::new(
                codes::INVALID_OPTIONS,
                "startTransaction requires autocommit: false",
            ));
        }
        Ok(Some(TransactionArguments {
            session_key,
            txn_number,
            autocommit,
            start_transaction,
        }))
    }

    /// Whether the command runs inside a multi-document transaction.
    pub fn in_transaction(&self) -> bool {
        self.autocommit == Some(false)
    }
}

/// The map key of a command's session (`lsid.id`), if it has one.
pub fn session_key(body: &Document) -> Option<String> {
    let id = body.get_document("lsid").ok()?.get("id")?;
    Some(match id {
        Bson::Binary(binary) => hex::encode(&binary.bytes),
        other => other.to_string(),
    })
}

enum TransactionState {
    None,
    Active(Box<Transaction>),
    Committed,
    Aborted,
}

/// One session's state, locked while one of its commands runs (MongoDB checks a session out for
/// the duration of a command, so commands of one session never interleave).
struct SessionState {
    /// The highest `txnNumber` seen, for transactions and retryable writes alike.
    txn_number: Option<i64>,
    transaction: TransactionState,
    /// The reply of the latest retryable write, by its `txnNumber`.
    retryable_reply: Option<(i64, Document)>,
    last_used: Instant,
}

impl Default for SessionState {
    fn default() -> Self {
        Self {
            txn_number: None,
            transaction: TransactionState::None,
            retryable_reply: None,
            last_used: Instant::now(),
        }
    }
}

/// Every live session of the server.
#[derive(Default)]
pub struct SessionRegistry {
    sessions: Mutex<HashMap<String, Arc<Mutex<SessionState>>>>,
}

impl SessionRegistry {
    fn session(&self, key: &str) -> Arc<Mutex<SessionState>> {
        let mut sessions = self.sessions.lock();
        if let Some(session) = sessions.get(key) {
            return session.clone();
        }
        // Forget idle sessions while creating a new one; dropping their open transactions aborts them.
        if sessions.len() >= 64 {
            sessions.retain(|_, session| match session.try_lock() {
                Some(state) => state.last_used.elapsed() < SESSION_TIMEOUT,
                None => true,
            });
        }
        sessions.entry(key.to_string()).or_default().clone()
    }

    /// Number of sessions the server currently remembers.
    pub fn len(&self) -> usize {
        self.sessions.lock().len()
    }

    /// Whether no session is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `endSessions`/`killSessions`: forgets the sessions, aborting their open transactions.
    pub fn end(&self, keys: &[String]) {
        let mut sessions = self.sessions.lock();
        for key in keys {
            sessions.remove(key);
        }
    }

    /// Runs a statement of a multi-document transaction, starting the transaction first when
    /// the command says `startTransaction: true`. A failed statement aborts the transaction, as
    /// in MongoDB.
    pub fn run_in_transaction(
        &self,
        store: &Store,
        arguments: &TransactionArguments,
        statement: impl FnOnce(&mut Transaction) -> CommandResult<Document>,
    ) -> CommandResult<Document> {
        let session = self.session(&arguments.session_key);
        let mut state = session.lock();
        state.last_used = Instant::now();
        let number = arguments.txn_number;
        if arguments.start_transaction {
            match state.txn_number {
                Some(current) if number < current => {
                    return Err(transaction_too_old(number, current));
                }
                Some(current) if number == current => {
                    return Err(CommandError::new(
                        codes::NO_SUCH_TRANSACTION,
                        format!(
                            "Cannot start a transaction at given transaction number {number}: a \
                             transaction with the same number was already started"
                        ),
                    ));
                }
                _ => {}
            }
            state.txn_number = Some(number);
            state.retryable_reply = None;
            state.transaction = TransactionState::Active(Box::new(store.begin_transaction()));
        } else {
            match state.txn_number {
                Some(current) if current == number => {}
                Some(current) if number < current => {
                    return Err(transaction_too_old(number, current));
                }
                _ => return Err(no_such_transaction(number)),
            }
        }
        let result = match &mut state.transaction {
            TransactionState::Active(transaction) => statement(transaction),
            TransactionState::Committed => {
                return Err(CommandError::new(
                    codes::TRANSACTION_COMMITTED,
                    format!("Transaction with {{ txnNumber: {number} }} has been committed."),
                ))
            }
            TransactionState::None | TransactionState::Aborted => {
                return Err(no_such_transaction(number))
            }
        };
        let failed = match &result {
            Err(_) => true,
            Ok(reply) => reply.contains_key("writeErrors"),
        };
        if failed {
            state.transaction = TransactionState::Aborted;
        }
        result
    }

    /// `commitTransaction`: commits the open transaction; a repeated commit of a committed
    /// transaction succeeds again, as drivers retry commits.
    pub fn commit(&self, store: &Store, arguments: &TransactionArguments) -> CommandResult<()> {
        let session = self.session(&arguments.session_key);
        let mut state = session.lock();
        state.last_used = Instant::now();
        let number = arguments.txn_number;
        match state.txn_number {
            Some(current) if current == number => {}
            Some(current) if number < current => return Err(transaction_too_old(number, current)),
            _ => return Err(no_such_transaction(number)),
        }
        match std::mem::replace(&mut state.transaction, TransactionState::Aborted) {
            TransactionState::Active(transaction) => match store.commit_transaction(*transaction) {
                Ok(()) => {
                    state.transaction = TransactionState::Committed;
                    Ok(())
                }
                Err(error) => Err(error),
            },
            TransactionState::Committed => {
                state.transaction = TransactionState::Committed;
                Ok(())
            }
            TransactionState::None | TransactionState::Aborted => Err(no_such_transaction(number)),
        }
    }

    /// `abortTransaction`: discards the open transaction.
    pub fn abort(&self, arguments: &TransactionArguments) -> CommandResult<()> {
        let session = self.session(&arguments.session_key);
        let mut state = session.lock();
        state.last_used = Instant::now();
        let number = arguments.txn_number;
        match state.txn_number {
            Some(current) if current == number => {}
            Some(current) if number < current => return Err(transaction_too_old(number, current)),
            _ => return Err(no_such_transaction(number)),
        }
        match std::mem::replace(&mut state.transaction, TransactionState::Aborted) {
            TransactionState::Active(_) => Ok(()),
            TransactionState::Committed => {
                state.transaction = TransactionState::Committed;
                Err(CommandError::new(
                    codes::TRANSACTION_COMMITTED,
                    format!("Transaction with {{ txnNumber: {number} }} has been committed."),
                ))
            }
            TransactionState::None | TransactionState::Aborted => Err(no_such_transaction(number)),
        }
    }

    /// Runs a retryable write once: a retry with the same `txnNumber` gets the stored reply.
    /// Failed commands (`ok: 0`) are not remembered, so their retry runs again.
    pub fn run_retryable_write(
        &self,
        arguments: &TransactionArguments,
        write: impl FnOnce() -> CommandResult<Document>,
    ) -> CommandResult<Document> {
        let session = self.session(&arguments.session_key);
        let mut state = session.lock();
        state.last_used = Instant::now();
        let number = arguments.txn_number;
        if let Some((stored_number, reply)) = &state.retryable_reply {
            if *stored_number == number {
                return Ok(reply.clone());
            }
        }
        if let Some(current) = state.txn_number {
            if number < current {
                return Err(transaction_too_old(number, current));
            }
        }
        if state.txn_number != Some(number) {
            // A newer txnNumber ends whatever transaction the session had open.
            state.transaction = TransactionState::None;
            state.txn_number = Some(number);
        }
        let reply = write()?;
        state.retryable_reply = Some((number, reply.clone()));
        Ok(reply)
    }
}

fn no_such_transaction(number: i64) -> CommandError {
    CommandError::new(
        codes::NO_SUCH_TRANSACTION,
        format!(
            "Transaction with {{ txnNumber: {number} }} has been aborted or was never started."
        ),
    )
    .with_label(TRANSIENT_TRANSACTION_ERROR)
}

fn transaction_too_old(number: i64, current: i64) -> CommandError {
    CommandError::new(
        codes::TRANSACTION_TOO_OLD,
        format!(
            "Cannot start transaction {number} on session because a newer transaction {current} \
             has already started"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn lsid() -> Document {
        doc! {"id": bson::Binary { subtype: bson::spec::BinarySubtype::Uuid, bytes: vec![7; 16] }}
    }

    #[test]
    fn commands_without_txn_number_have_no_transaction_arguments() {
        assert_eq!(
            TransactionArguments::parse(&doc! {"find": "c", "lsid": lsid()}).unwrap(),
            None
        );
    }

    #[test]
    fn transaction_arguments_read_txn_number_autocommit_and_start() {
        let arguments = TransactionArguments::parse(&doc! {
            "insert": "c", "lsid": lsid(), "txnNumber": 3i64,
            "autocommit": false, "startTransaction": true,
        })
        .unwrap()
        .unwrap();
        assert_eq!(arguments.txn_number, 3);
        assert_eq!(arguments.session_key, "07".repeat(16));
        assert!(arguments.in_transaction());
        assert!(arguments.start_transaction);
    }

    #[test]
    fn a_retryable_write_has_no_autocommit_field() {
        let arguments =
            TransactionArguments::parse(&doc! {"insert": "c", "lsid": lsid(), "txnNumber": 1i64})
                .unwrap()
                .unwrap();
        assert!(!arguments.in_transaction());
    }

    #[test]
    fn autocommit_true_and_missing_sessions_are_invalid_options() {
        let error = TransactionArguments::parse(&doc! {
            "insert": "c", "lsid": lsid(), "txnNumber": 1i64, "autocommit": true,
        })
        .unwrap_err();
        assert_eq!(error.code, codes::INVALID_OPTIONS);
        let error =
            TransactionArguments::parse(&doc! {"insert": "c", "txnNumber": 1i64}).unwrap_err();
        assert_eq!(error.code, codes::INVALID_OPTIONS);
    }

    #[test]
    fn a_retried_write_returns_the_first_reply_without_running_again() {
        let registry = SessionRegistry::default();
        let arguments =
            TransactionArguments::parse(&doc! {"insert": "c", "lsid": lsid(), "txnNumber": 5i64})
                .unwrap()
                .unwrap();
        let mut runs = 0;
        let first = registry
            .run_retryable_write(&arguments, || {
                runs += 1;
                Ok(doc! {"n": 1, "ok": 1.0})
            })
            .unwrap();
        let second = registry
            .run_retryable_write(&arguments, || {
                runs += 1;
                Ok(doc! {"n": 99, "ok": 1.0})
            })
            .unwrap();
        assert_eq!(runs, 1);
        assert_eq!(first, second);
    }

    #[test]
    fn an_older_txn_number_is_transaction_too_old() {
        let registry = SessionRegistry::default();
        let newer =
            TransactionArguments::parse(&doc! {"insert": "c", "lsid": lsid(), "txnNumber": 5i64})
                .unwrap()
                .unwrap();
        registry
            .run_retryable_write(&newer, || Ok(doc! {"ok": 1.0}))
            .unwrap();
        let older = TransactionArguments {
            txn_number: 4,
            ..newer
        };
        let error = registry
            .run_retryable_write(&older, || Ok(doc! {"ok": 1.0}))
            .unwrap_err();
        assert_eq!(error.code, codes::TRANSACTION_TOO_OLD);
    }

    fn in_transaction(number: i64, start: bool) -> TransactionArguments {
        TransactionArguments {
            session_key: "session".to_string(),
            txn_number: number,
            autocommit: Some(false),
            start_transaction: start,
        }
    }

    fn memory_store() -> Store {
        Store::open(crate::storage::StoreOptions::default()).unwrap()
    }

    #[test]
    fn a_committed_transaction_commits_again_and_cannot_be_aborted() {
        let store = memory_store();
        let registry = SessionRegistry::default();
        registry
            .run_in_transaction(&store, &in_transaction(1, true), |_| Ok(doc! {"ok": 1.0}))
            .unwrap();
        registry.commit(&store, &in_transaction(1, false)).unwrap();
        registry.commit(&store, &in_transaction(1, false)).unwrap();
        let error = registry.abort(&in_transaction(1, false)).unwrap_err();
        assert_eq!(error.code, codes::TRANSACTION_COMMITTED);
    }

    #[test]
    fn a_failed_statement_aborts_its_transaction() {
        let store = memory_store();
        let registry = SessionRegistry::default();
        let error = registry
            .run_in_transaction(&store, &in_transaction(1, true), |_| {
                Err(CommandError::bad_value("bad statement"))
            })
            .unwrap_err();
        assert_eq!(error.code, codes::BAD_VALUE);
        let error = registry
            .run_in_transaction(&store, &in_transaction(1, false), |_| Ok(doc! {"ok": 1.0}))
            .unwrap_err();
        assert_eq!(error.code, codes::NO_SUCH_TRANSACTION);
        let error = registry
            .commit(&store, &in_transaction(1, false))
            .unwrap_err();
        assert_eq!(error.code, codes::NO_SUCH_TRANSACTION);
        assert_eq!(error.labels, vec![TRANSIENT_TRANSACTION_ERROR.to_string()]);
    }

    #[test]
    fn a_newer_transaction_replaces_the_open_one_and_an_older_one_is_too_old() {
        let store = memory_store();
        let registry = SessionRegistry::default();
        registry
            .run_in_transaction(&store, &in_transaction(1, true), |_| Ok(doc! {"ok": 1.0}))
            .unwrap();
        registry
            .run_in_transaction(&store, &in_transaction(2, true), |_| Ok(doc! {"ok": 1.0}))
            .unwrap();
        let error = registry
            .commit(&store, &in_transaction(1, false))
            .unwrap_err();
        assert_eq!(error.code, codes::TRANSACTION_TOO_OLD);
        registry.commit(&store, &in_transaction(2, false)).unwrap();
    }

    #[test]
    fn ending_a_session_forgets_its_transaction() {
        let store = memory_store();
        let registry = SessionRegistry::default();
        registry
            .run_in_transaction(&store, &in_transaction(1, true), |_| Ok(doc! {"ok": 1.0}))
            .unwrap();
        registry.end(&["session".to_string()]);
        assert!(registry.is_empty());
        let error = registry
            .commit(&store, &in_transaction(1, false))
            .unwrap_err();
        assert_eq!(error.code, codes::NO_SUCH_TRANSACTION);
    }

    #[test]
    fn committing_an_unknown_transaction_is_no_such_transaction_with_the_transient_label() {
        let registry = SessionRegistry::default();
        let arguments = TransactionArguments {
            session_key: "s".to_string(),
            txn_number: 1,
            autocommit: Some(false),
            start_transaction: false,
        };
        let error = registry.abort(&arguments).unwrap_err();
        assert_eq!(error.code, codes::NO_SUCH_TRANSACTION);
        assert_eq!(error.labels, vec![TRANSIENT_TRANSACTION_ERROR.to_string()]);
    }
}
