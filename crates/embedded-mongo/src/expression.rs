//! Aggregation expressions: field paths, variables (`$$ROOT`, `$$CURRENT`, `$$NOW`, `let`),
//! literals, and operators (arithmetic, comparison, boolean, conditional, string, array, date).

use bson::{Bson, Document};

use crate::error::CommandResult;

/// Variables in scope while evaluating an expression.
#[derive(Debug, Clone, Default)]
pub struct Variables {}

impl Variables {
    /// The system variables only.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy with `name` (without `$$`) bound to `value`.
    pub fn with(&self, name: &str, value: Bson) -> Self {
        let _ = (name, value);
        todo!("issue #2: expressions")
    }

    /// The value bound to `name` (without `$$`).
    pub fn get(&self, name: &str) -> Option<&Bson> {
        let _ = name;
        todo!("issue #2: expressions")
    }
}

/// A parsed expression.
#[derive(Debug, Clone)]
pub struct Expression {}

impl Expression {
    /// Parses an expression; an unknown `$operator` is code 168 (InvalidPipelineOperator).
    pub fn parse(spec: &Bson) -> CommandResult<Expression> {
        let _ = spec;
        todo!("issue #2: expressions")
    }

    /// Evaluates against `root` (`$$ROOT`/`$$CURRENT`). `None` means the result is missing
    /// (a field path to an absent field), which differs from `Some(Bson::Null)`.
    pub fn evaluate(&self, root: &Document, variables: &Variables) -> CommandResult<Option<Bson>> {
        let _ = (root, variables);
        todo!("issue #2: expressions")
    }
}

/// MongoDB truthiness: false, null, missing, undefined and numeric zero are false.
pub fn is_truthy(value: Option<&Bson>) -> bool {
    let _ = value;
    todo!("issue #2: expressions")
}
