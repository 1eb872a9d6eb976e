//! The aggregation pipeline: stages over a stream of documents.

use bson::{Bson, Document};

use crate::error::CommandResult;
use crate::expression::Variables;

/// What a pipeline needs from the database it runs in (`$lookup`, `$unionWith`).
pub trait PipelineContext {
    /// Every document of `collection` in the pipeline's database, in natural order; an absent
    /// collection is empty.
    fn collection_documents(&self, collection: &str) -> CommandResult<Vec<Document>>;
}

/// A parsed pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {}

impl Pipeline {
    /// Parses the stages; an unknown stage is code 40324.
    pub fn parse(stages: &[Bson]) -> CommandResult<Pipeline> {
        let _ = stages;
        todo!("issue #2: aggregation")
    }

    /// The filter of a leading `$match`, which the caller may answer with an index before
    /// running the pipeline (the pipeline still applies it).
    pub fn leading_match(&self) -> Option<&Document> {
        todo!("issue #2: aggregation")
    }

    /// Runs the pipeline over `input`.
    pub fn run(
        &self,
        input: Vec<Document>,
        context: &dyn PipelineContext,
        variables: &Variables,
    ) -> CommandResult<Vec<Document>> {
        let _ = (input, context, variables);
        todo!("issue #2: aggregation")
    }
}

/// A parsed sort specification (`{field: 1 | -1, ...}`), shared by `find` and `$sort`.
///
/// Missing fields sort as null; an array field sorts by its smallest element ascending and its
/// largest descending, as MongoDB does.
#[derive(Debug, Clone)]
pub struct SortSpec {}

impl SortSpec {
    /// Parses a sort document; a direction other than 1/-1 (or `{$meta: ...}`) is code 15974/2.
    pub fn parse(spec: &Document) -> CommandResult<SortSpec> {
        let _ = spec;
        todo!("issue #2: aggregation")
    }

    /// Orders two documents by this specification.
    pub fn compare(&self, left: &Document, right: &Document) -> std::cmp::Ordering {
        let _ = (left, right);
        todo!("issue #2: aggregation")
    }
}
