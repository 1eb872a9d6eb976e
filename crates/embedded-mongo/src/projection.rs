//! Find projections: inclusion, exclusion, `_id` rules, positional `$`, `$elemMatch`, `$slice`,
//! and aggregation expressions in projections.

use bson::Document;

use crate::error::CommandResult;

/// A parsed projection.
#[derive(Debug, Clone)]
pub struct Projection {}

impl Projection {
    /// Parses a projection; mixing inclusion and exclusion (other than `_id`) is an error
    /// (code 31254/31253 as MongoDB reports it).
    pub fn parse(projection: &Document) -> CommandResult<Projection> {
        let _ = projection;
        todo!("issue #2: projection")
    }

    /// Applies the projection. `array_position` comes from [`crate::query::MatchDetails`] and
    /// serves the positional `$` projection.
    pub fn apply(
        &self,
        document: &Document,
        array_position: Option<usize>,
    ) -> CommandResult<Document> {
        let _ = (document, array_position);
        todo!("issue #2: projection")
    }
}
