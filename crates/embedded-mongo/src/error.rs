//! Errors in MongoDB's reply shape: a numeric `code`, its `codeName`, an `errmsg`, optional
//! `errorLabels`, and extra fields such as `keyPattern`/`keyValue` (11000) or `errInfo` (121).

use bson::{doc, Bson, Document};

/// MongoDB's numeric error codes used by this store. Names follow MongoDB's `codeName`s.
pub mod codes {
    pub const INTERNAL_ERROR: i32 = 1;
    pub const BAD_VALUE: i32 = 2;
    pub const NO_SUCH_KEY: i32 = 4;
    pub const FAILED_TO_PARSE: i32 = 9;
    pub const TYPE_MISMATCH: i32 = 14;
    pub const INVALID_LENGTH: i32 = 16;
    pub const UNAUTHORIZED: i32 = 13;
    pub const ILLEGAL_OPERATION: i32 = 20;
    pub const LOCK_TIMEOUT: i32 = 24;
    pub const INVALID_BSON: i32 = 22;
    pub const CANNOT_BACKFILL_ARRAY: i32 = 34;
    pub const NAMESPACE_NOT_FOUND: i32 = 26;
    pub const INDEX_NOT_FOUND: i32 = 27;
    pub const PATH_NOT_VIABLE: i32 = 28;
    pub const CONFLICTING_UPDATE_OPERATORS: i32 = 40;
    pub const CURSOR_NOT_FOUND: i32 = 43;
    pub const NAMESPACE_EXISTS: i32 = 48;
    pub const MAX_TIME_MS_EXPIRED: i32 = 50;
    pub const DOLLAR_PREFIXED_FIELD_NAME: i32 = 52;
    pub const INVALID_ID_FIELD: i32 = 53;
    pub const NOT_SINGLE_VALUE_FIELD: i32 = 54;
    pub const EMPTY_FIELD_NAME: i32 = 56;
    pub const COMMAND_NOT_FOUND: i32 = 59;
    pub const IMMUTABLE_FIELD: i32 = 66;
    pub const CANNOT_CREATE_INDEX: i32 = 67;
    pub const INVALID_OPTIONS: i32 = 72;
    pub const INVALID_NAMESPACE: i32 = 73;
    pub const INDEX_OPTIONS_CONFLICT: i32 = 85;
    pub const INDEX_KEY_SPECS_CONFLICT: i32 = 86;
    pub const OPERATION_FAILED: i32 = 96;
    pub const WRITE_CONFLICT: i32 = 112;
    pub const COMMAND_NOT_SUPPORTED: i32 = 115;
    pub const DOCUMENT_VALIDATION_FAILURE: i32 = 121;
    pub const INVALID_PIPELINE_OPERATOR: i32 = 168;
    pub const NO_SUCH_SESSION: i32 = 206;
    pub const NOT_IMPLEMENTED: i32 = 238;
    pub const SNAPSHOT_TOO_OLD: i32 = 239;
    pub const SNAPSHOT_UNAVAILABLE: i32 = 246;
    pub const TRANSACTION_TOO_OLD: i32 = 225;
    pub const NO_SUCH_TRANSACTION: i32 = 251;
    pub const TRANSACTION_COMMITTED: i32 = 256;
    pub const OPERATION_NOT_SUPPORTED_IN_TRANSACTION: i32 = 263;
    pub const PREPARED_TRANSACTION_IN_PROGRESS: i32 = 267;
    pub const CHANGE_STREAM_FATAL_ERROR: i32 = 280;
    pub const CHANGE_STREAM_HISTORY_LOST: i32 = 286;
    pub const CURSOR_IN_USE: i32 = 292;
    pub const UNSUPPORTED_OP_QUERY_COMMAND: i32 = 352;
    pub const API_STRICT_ERROR: i32 = 323;
    pub const DUPLICATE_KEY: i32 = 11000;
    pub const BSON_OBJECT_TOO_LARGE: i32 = 10334;
    pub const INTERRUPTED: i32 = 11601;
    /// An IDL-parsed command carrying a field it does not define; MongoDB gives it no name.
    pub const UNKNOWN_FIELD: i32 = 40415;
    pub const VIEW_DEPTH_LIMIT_EXCEEDED: i32 = 149;
    pub const NO_MATCHING_DOCUMENT: i32 = 47;
    pub const COMMAND_NOT_SUPPORTED_ON_VIEW: i32 = 166;
    pub const OPTION_NOT_SUPPORTED_ON_VIEW: i32 = 167;
    pub const GRAPH_CONTAINS_CYCLE: i32 = 5;
    pub const UNRECOGNIZED_PIPELINE_STAGE: i32 = 40324;
    pub const TOO_MANY_LOGICAL_SESSIONS: i32 = 261;
}

/// The `codeName` MongoDB reports for a code; codes without a name are `Location<code>`.
pub fn code_name(code: i32) -> String {
    use codes::*;
    let name = match code {
        INTERNAL_ERROR => "InternalError",
        BAD_VALUE => "BadValue",
        NO_SUCH_KEY => "NoSuchKey",
        FAILED_TO_PARSE => "FailedToParse",
        TYPE_MISMATCH => "TypeMismatch",
        INVALID_LENGTH => "InvalidLength",
        UNAUTHORIZED => "Unauthorized",
        ILLEGAL_OPERATION => "IllegalOperation",
        LOCK_TIMEOUT => "LockTimeout",
        INVALID_BSON => "InvalidBSON",
        CANNOT_BACKFILL_ARRAY => "CannotBackfillArray",
        NAMESPACE_NOT_FOUND => "NamespaceNotFound",
        INDEX_NOT_FOUND => "IndexNotFound",
        PATH_NOT_VIABLE => "PathNotViable",
        CONFLICTING_UPDATE_OPERATORS => "ConflictingUpdateOperators",
        CURSOR_NOT_FOUND => "CursorNotFound",
        NAMESPACE_EXISTS => "NamespaceExists",
        MAX_TIME_MS_EXPIRED => "MaxTimeMSExpired",
        DOLLAR_PREFIXED_FIELD_NAME => "DollarPrefixedFieldName",
        INVALID_ID_FIELD => "InvalidIdField",
        NOT_SINGLE_VALUE_FIELD => "NotSingleValueField",
        EMPTY_FIELD_NAME => "EmptyFieldName",
        COMMAND_NOT_FOUND => "CommandNotFound",
        IMMUTABLE_FIELD => "ImmutableField",
        CANNOT_CREATE_INDEX => "CannotCreateIndex",
        INVALID_OPTIONS => "InvalidOptions",
        INVALID_NAMESPACE => "InvalidNamespace",
        INDEX_OPTIONS_CONFLICT => "IndexOptionsConflict",
        INDEX_KEY_SPECS_CONFLICT => "IndexKeySpecsConflict",
        OPERATION_FAILED => "OperationFailed",
        WRITE_CONFLICT => "WriteConflict",
        COMMAND_NOT_SUPPORTED => "CommandNotSupported",
        DOCUMENT_VALIDATION_FAILURE => "DocumentValidationFailure",
        INVALID_PIPELINE_OPERATOR => "InvalidPipelineOperator",
        NO_SUCH_SESSION => "NoSuchSession",
        NOT_IMPLEMENTED => "NotImplemented",
        TOO_MANY_LOGICAL_SESSIONS => "TooManyLogicalSessions",
        SNAPSHOT_TOO_OLD => "SnapshotTooOld",
        SNAPSHOT_UNAVAILABLE => "SnapshotUnavailable",
        TRANSACTION_TOO_OLD => "TransactionTooOld",
        NO_SUCH_TRANSACTION => "NoSuchTransaction",
        TRANSACTION_COMMITTED => "TransactionCommitted",
        OPERATION_NOT_SUPPORTED_IN_TRANSACTION => "OperationNotSupportedInTransaction",
        PREPARED_TRANSACTION_IN_PROGRESS => "PreparedTransactionInProgress",
        CHANGE_STREAM_FATAL_ERROR => "ChangeStreamFatalError",
        CHANGE_STREAM_HISTORY_LOST => "ChangeStreamHistoryLost",
        CURSOR_IN_USE => "CursorInUse",
        UNSUPPORTED_OP_QUERY_COMMAND => "UnsupportedOpQueryCommand",
        API_STRICT_ERROR => "APIStrictError",
        DUPLICATE_KEY => "DuplicateKey",
        BSON_OBJECT_TOO_LARGE => "BSONObjectTooLarge",
        INTERRUPTED => "Interrupted",
        VIEW_DEPTH_LIMIT_EXCEEDED => "ViewDepthLimitExceeded",
        NO_MATCHING_DOCUMENT => "NoMatchingDocument",
        COMMAND_NOT_SUPPORTED_ON_VIEW => "CommandNotSupportedOnView",
        OPTION_NOT_SUPPORTED_ON_VIEW => "OptionNotSupportedOnView",
        GRAPH_CONTAINS_CYCLE => "GraphContainsCycle",
        // Codes a fail point may inject (the retryable and transient ones drivers act on).
        6 => "HostUnreachable",
        7 => "HostNotFound",
        89 => "NetworkTimeout",
        91 => "ShutdownInProgress",
        189 => "PrimarySteppedDown",
        262 => "ExceededTimeLimit",
        9001 => "SocketException",
        10107 => "NotWritablePrimary",
        11600 => "InterruptedAtShutdown",
        11602 => "InterruptedDueToReplStateChange",
        13435 => "NotPrimaryNoSecondaryOk",
        13436 => "NotPrimaryOrSecondary",
        // Codes a fail point may inject that drivers treat specially (change-stream resumes).
        63 => "StaleShardVersion",
        133 => "FailedToSatisfyReadPreference",
        150 => "StaleEpoch",
        234 => "RetryChangeStream",
        13388 => "StaleConfig",
        other => return format!("Location{other}"),
    };
    name.to_string()
}

/// A command or write failure, rendered to clients exactly as MongoDB renders it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} (code {code})")]
pub struct CommandError {
    /// MongoDB's numeric error code (see [`codes`]).
    pub code: i32,
    /// Human-readable message, the reply's `errmsg`.
    pub message: String,
    /// `errorLabels`, e.g. `TransientTransactionError` on write conflicts inside transactions.
    pub labels: Vec<String>,
    /// Extra reply fields: `keyPattern`/`keyValue` for duplicate keys, `errInfo` for validation.
    /// Boxed so that results carrying this error stay small on their (common) success path.
    pub extra: Box<Document>,
}

impl CommandError {
    /// An error with `code` and `message` and no labels or extra fields.
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            labels: Vec::new(),
            extra: Box::default(),
        }
    }

    /// `BadValue` (2), the most common parse error for query and command arguments.
    pub fn bad_value(message: impl Into<String>) -> Self {
        Self::new(codes::BAD_VALUE, message)
    }

    /// `FailedToParse` (9).
    pub fn failed_to_parse(message: impl Into<String>) -> Self {
        Self::new(codes::FAILED_TO_PARSE, message)
    }

    /// `TypeMismatch` (14).
    pub fn type_mismatch(message: impl Into<String>) -> Self {
        Self::new(codes::TYPE_MISMATCH, message)
    }

    /// Adds an `errorLabels` entry.
    pub fn with_label(mut self, label: &str) -> Self {
        if !self.labels.iter().any(|existing| existing == label) {
            self.labels.push(label.to_string());
        }
        self
    }

    /// Adds an extra reply field.
    pub fn with_extra(mut self, key: &str, value: impl Into<Bson>) -> Self {
        self.extra.insert(key, value.into());
        self
    }

    /// The `codeName` for this error's code.
    pub fn code_name(&self) -> String {
        code_name(self.code)
    }

    /// The full command reply: `{ok: 0, errmsg, code, codeName, errorLabels?, ...extra}`.
    pub fn to_reply(&self) -> Document {
        let mut reply = doc! {
            "ok": 0.0,
            "errmsg": self.message.clone(),
            "code": self.code,
            "codeName": self.code_name(),
        };
        if !self.labels.is_empty() {
            reply.insert("errorLabels", self.labels.clone());
        }
        for (key, value) in self.extra.iter() {
            reply.insert(key.clone(), value.clone());
        }
        reply
    }

    /// One entry of a write command's `writeErrors`: `{index, code, codeName, errmsg, ...extra}`.
    pub fn to_write_error(&self, index: usize) -> Document {
        let mut entry = doc! {
            "index": index as i32,
            "code": self.code,
            "codeName": self.code_name(),
            "errmsg": self.message.clone(),
        };
        for (key, value) in self.extra.iter() {
            entry.insert(key.clone(), value.clone());
        }
        entry
    }
}

/// Shorthand for results whose error is a [`CommandError`].
pub type CommandResult<T> = Result<T, CommandError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_carry_mongods_names() {
        for (code, name) in [
            (5, "GraphContainsCycle"),
            (150, "StaleEpoch"),
            (234, "RetryChangeStream"),
            (6047401, "Location6047401"),
        ] {
            assert_eq!(code_name(code), name);
        }
    }

    #[test]
    fn replies_carry_code_name_labels_and_extras() {
        let error = CommandError::new(codes::WRITE_CONFLICT, "conflict")
            .with_label("TransientTransactionError")
            .with_extra("keyValue", doc! {"a": 1});
        let reply = error.to_reply();
        assert_eq!(reply.get_f64("ok").unwrap(), 0.0);
        assert_eq!(reply.get_str("codeName").unwrap(), "WriteConflict");
        assert_eq!(reply.get_array("errorLabels").unwrap().len(), 1);
        assert_eq!(reply.get_document("keyValue").unwrap(), &doc! {"a": 1});
        assert_eq!(code_name(4242), "Location4242");
        assert_eq!(code_name(40415), "Location40415");
    }

    #[test]
    fn codes_mongod_names_are_reported_by_name_not_location() {
        for (code, name) in [
            (24, "LockTimeout"),
            (238, "NotImplemented"),
            (246, "SnapshotUnavailable"),
            (267, "PreparedTransactionInProgress"),
            (11601, "Interrupted"),
        ] {
            assert_eq!(code_name(code), name);
        }
    }
}
