//! Read commands: `find`, `getMore`, `killCursors`, `count`, `distinct` and `aggregate`.

use bson::{doc, Bson, Document};

use super::{count_value, cursor_id, missing_field, streams, type_name, wrong_type, Context};
use crate::cursor::{first_batch_reply, take_batch, CheckoutError, Cursor, KillResult};
use crate::error::{codes, CommandError, CommandResult};
use crate::storage::{FindRequest, Transaction};

pub fn find(
    context: &Context<'_>,
    transaction: Option<&mut Transaction>,
) -> CommandResult<Document> {
    let collection = context.collection()?;
    context.check_hint(&collection)?;
    let namespace = context.namespace(&collection);
    let filter = context.document("filter")?.unwrap_or_default();
    let sort = context.document("sort")?.filter(|sort| !sort.is_empty());
    let projection = context.document("projection")?;
    let skip = context.non_negative("skip")?.unwrap_or(0);
    // A negative limit is the legacy spelling of "one batch of at most |limit| documents".
    let limit = context.integer("limit")?.unwrap_or(0);
    let batch_size = context.non_negative("batchSize")?.map(|size| size as usize);
    let single_batch = context.boolean("singleBatch")?.unwrap_or(false) || limit < 0;
    let limit = limit.unsigned_abs();
    let request = FindRequest {
        filter,
        sort,
        projection,
        skip,
        limit,
        variables: context.let_variables()?,
        collation: context.collation()?,
    };
    let documents =
        context
            .state
            .store
            .find(transaction, context.database, &collection, &request)?;
    let batch_size = match (batch_size, single_batch && limit > 0) {
        // A single batch returns up to `limit` documents even beyond the default first batch.
        (None, true) => Some(limit as usize),
        (size, _) => size,
    };
    Ok(first_batch_reply(
        &context.state.cursors,
        &namespace,
        documents,
        batch_size,
        single_batch,
    ))
}

/// The arguments of `getMore`: cursor id, namespace and batch size.
pub struct GetMoreArguments {
    pub id: i64,
    pub namespace: String,
    pub batch_size: Option<usize>,
}

impl GetMoreArguments {
    pub fn parse(database: &str, body: &Document) -> CommandResult<GetMoreArguments> {
        let id = cursor_id(body.get("getMore").unwrap_or(&Bson::Null))?;
        let collection = match body.get("collection") {
            Some(Bson::String(collection)) => collection.clone(),
            Some(other) => return Err(wrong_type("getMore", "collection", other, "string")),
            None => return Err(missing_field("getMore", "collection")),
        };
        let batch_size =
            match super::optional_integer("getMore", "batchSize", body.get("batchSize"))? {
                Some(size) if size < 0 => {
                    return Err(CommandError::bad_value(format!(
                        "Batch size for getMore must be non-negative, but received: {size}"
                    )))
                }
                Some(0) | None => None,
                Some(size) => Some(size as usize),
            };
        Ok(GetMoreArguments {
            id,
            namespace: format!("{database}.{collection}"),
            batch_size,
        })
    }
}

/// The error for a cursor `getMore` cannot use.
pub fn checkout_error(arguments: &GetMoreArguments, error: CheckoutError) -> CommandError {
    match error {
        CheckoutError::NotFound => CommandError::new(
            codes::CURSOR_NOT_FOUND,
            format!("cursor id {} not found", arguments.id),
        ),
        CheckoutError::WrongNamespace(owner) => CommandError::new(
            13,
            format!(
                "Requested getMore on namespace '{}', but cursor belongs to a different namespace {owner}",
                arguments.namespace
            ),
        ),
        CheckoutError::InUse => CommandError::new(
            292,
            format!("Cursor already in use (namespace: '{}', id: {}).", arguments.namespace, arguments.id),
        ),
    }
}

pub fn get_more(context: &Context<'_>, _: Option<&mut Transaction>) -> CommandResult<Document> {
    let arguments = GetMoreArguments::parse(context.database, context.body)?;
    let cursors = &context.state.cursors;
    let cursor = cursors
        .check_out(arguments.id, &arguments.namespace)
        .map_err(|error| checkout_error(&arguments, error))?;
    let change_stream = matches!(cursor, Cursor::ChangeStream(_));
    if let Some(error) = context.state.fail_points.fail_get_more(change_stream) {
        cursors.remove(arguments.id);
        return Err(error);
    }
    match cursor {
        Cursor::Documents(mut cursor) => {
            let batch = take_batch(&mut cursor.remaining, arguments.batch_size);
            let id = if cursor.remaining.is_empty() {
                cursors.remove(arguments.id);
                0
            } else {
                cursors.check_in(arguments.id, Cursor::Documents(cursor));
                arguments.id
            };
            Ok(doc! {
                "cursor": {"nextBatch": batch, "id": id, "ns": arguments.namespace},
                "ok": 1.0,
            })
        }
        // Change streams are normally served by the asynchronous path; a stream that got here
        // answers with what is available now.
        Cursor::ChangeStream(stream) => {
            cursors.check_in(arguments.id, Cursor::ChangeStream(stream));
            Err(CommandError::new(
                292,
                "change stream cursor was busy; retry getMore",
            ))
        }
    }
}

pub fn kill_cursors(context: &Context<'_>, _: Option<&mut Transaction>) -> CommandResult<Document> {
    // Cursors of listCollections or database change streams live in `db.$cmd.*` namespaces, so
    // the name is not checked as a collection name.
    match context.body.get("killCursors") {
        Some(Bson::String(_)) => {}
        Some(other) => return Err(wrong_type("killCursors", "killCursors", other, "string")),
        None => return Err(missing_field("killCursors", "killCursors")),
    }
    let ids = match context.body.get("cursors") {
        Some(Bson::Array(ids)) => ids
            .iter()
            .map(cursor_id)
            .collect::<CommandResult<Vec<i64>>>()?,
        Some(other) => return Err(wrong_type("killCursors", "cursors", other, "array")),
        None => return Err(missing_field("killCursors", "cursors")),
    };
    let mut killed = Vec::new();
    let mut not_found = Vec::new();
    for id in ids {
        match context.state.cursors.kill(id) {
            KillResult::Killed => killed.push(Bson::Int64(id)),
            KillResult::NotFound => not_found.push(Bson::Int64(id)),
        }
    }
    Ok(doc! {
        "cursorsKilled": killed,
        "cursorsNotFound": not_found,
        "cursorsAlive": [],
        "cursorsUnknown": [],
        "ok": 1.0,
    })
}

pub fn count(
    context: &Context<'_>,
    transaction: Option<&mut Transaction>,
) -> CommandResult<Document> {
    let collection = context.collection()?;
    context.check_hint(&collection)?;
    let filter = context.document("query")?.unwrap_or_default();
    let skip = match context.integer("skip")? {
        Some(skip) if skip < 0 => {
            return Err(CommandError::bad_value(
                "skip value is negative in count query",
            ))
        }
        other => other.unwrap_or(0) as u64,
    };
    let limit = context.integer("limit")?.unwrap_or(0).unsigned_abs();
    let n = context.state.store.count(
        transaction,
        context.database,
        &collection,
        &FindRequest {
            filter,
            skip,
            limit,
            collation: context.collation()?,
            ..FindRequest::default()
        },
    )?;
    Ok(doc! {"n": count_value(n), "ok": 1.0})
}

pub fn distinct(
    context: &Context<'_>,
    transaction: Option<&mut Transaction>,
) -> CommandResult<Document> {
    let collection = context.collection()?;
    context.check_hint(&collection)?;
    let key = match context.body.get("key") {
        Some(Bson::String(key)) => key.clone(),
        Some(other) => return Err(wrong_type("distinct", "key", other, "string")),
        None => return Err(missing_field("distinct", "key")),
    };
    let filter = context.document("query")?.unwrap_or_default();
    let values = context.state.store.distinct(
        transaction,
        context.database,
        &collection,
        &key,
        &filter,
        context.collation()?.as_ref(),
    )?;
    Ok(doc! {"values": values, "ok": 1.0})
}

pub fn aggregate(
    context: &Context<'_>,
    transaction: Option<&mut Transaction>,
) -> CommandResult<Document> {
    let collection = match context.body.get("aggregate") {
        Some(Bson::String(_)) => Some(context.collection()?),
        Some(Bson::Int32(1)) | Some(Bson::Int64(1)) => None,
        Some(Bson::Double(number)) if *number == 1.0 => None,
        Some(other) => {
            return Err(CommandError::new(
                codes::FAILED_TO_PARSE,
                format!(
                    "Invalid {{aggregate: ...}} value: must be a collection name or 1, not {}",
                    type_name(other)
                ),
            ))
        }
        None => return Err(missing_field("aggregate", "aggregate")),
    };
    let pipeline = match context.body.get("pipeline") {
        Some(Bson::Array(stages)) => stages.clone(),
        Some(other) => return Err(wrong_type("aggregate", "pipeline", other, "array")),
        None => return Err(missing_field("aggregate", "pipeline")),
    };
    for (index, stage) in pipeline.iter().enumerate() {
        if !matches!(stage, Bson::Document(_)) {
            return Err(wrong_type(
                "aggregate",
                &format!("pipeline.{index}"),
                stage,
                "object",
            ));
        }
    }
    if context.boolean("explain")? == Some(true) {
        return Err(CommandError::new(
            codes::COMMAND_NOT_SUPPORTED,
            "explain is not supported by embedded-mongo",
        ));
    }
    if !context.body.contains_key("cursor") {
        return Err(CommandError::failed_to_parse(
            "The 'cursor' option is required, except for aggregate with the explain argument",
        ));
    }
    let batch_size = context.cursor_batch_size()?;
    let change_stream = match pipeline.first() {
        Some(Bson::Document(first)) => first.get("$changeStream").cloned(),
        _ => None,
    };
    if let Some(options) = change_stream {
        if let Some(collection) = &collection {
            if context.state.store.is_view(context.database, collection) {
                return Err(CommandError::new(
                    codes::COMMAND_NOT_SUPPORTED_ON_VIEW,
                    format!(
                        "Namespace {}.{collection} is a view. $changeStream cannot run on a view",
                        context.database
                    ),
                ));
            }
        }
        if transaction.is_some() {
            return Err(CommandError::new(
                codes::OPERATION_NOT_SUPPORTED_IN_TRANSACTION,
                "Operation not permitted in transaction :: caused by :: $changeStream",
            ));
        }
        let Bson::Document(options) = options else {
            return Err(CommandError::new(
                50808,
                "$changeStream stage expects a document as argument",
            ));
        };
        return streams::open(
            context,
            collection.as_deref(),
            &options,
            &pipeline[1..],
            batch_size,
        );
    }
    let first_stage = match pipeline.first() {
        Some(Bson::Document(first)) if first.len() == 1 => first.iter().next(),
        _ => None,
    };
    if let Some(("$listLocalSessions", spec)) =
        first_stage.map(|(name, spec)| (name.as_str(), spec))
    {
        if collection.is_some() {
            return Err(CommandError::new(
                codes::INVALID_NAMESPACE,
                "$listLocalSessions must be run against the database with {aggregate: 1}, not a collection",
            ));
        }
        if transaction.is_some() {
            return Err(CommandError::new(
                codes::OPERATION_NOT_SUPPORTED_IN_TRANSACTION,
                "Operation not permitted in transaction :: caused by :: $listLocalSessions",
            ));
        }
        let owners = crate::local_sessions::SessionOwners::parse(spec)?;
        let variables = context.let_variables()?.unwrap_or_default();
        let sessions = context.state.local_sessions.list(&owners);
        let results = context.state.store.aggregate_documents(
            None,
            context.database,
            sessions,
            &pipeline[1..],
            &variables,
        )?;
        return Ok(first_batch_reply(
            &context.state.cursors,
            &format!("{}.$cmd.aggregate", context.database),
            results,
            batch_size,
            false,
        ));
    }
    let Some(collection) = collection else {
        let documents = match pipeline.first() {
            Some(Bson::Document(first)) => first.get("$documents").cloned(),
            _ => None,
        };
        let Some(documents) = documents else {
            return Err(CommandError::new(
                codes::INVALID_NAMESPACE,
                "{aggregate: 1} is only supported with $changeStream, $documents or $listLocalSessions; a collection is required",
            ));
        };
        let variables = context.let_variables()?.unwrap_or_default();
        let input = match crate::expression::Expression::parse(&documents)?
            .evaluate(&Document::new(), &variables)?
        {
            Some(Bson::Array(items)) => items
                .into_iter()
                .map(|item| match item {
                    Bson::Document(document) => Ok(document),
                    other => Err(CommandError::new(
                        codes::TYPE_MISMATCH,
                        format!(
                            "$documents elements must be objects, found {}",
                            type_name(&other)
                        ),
                    )),
                })
                .collect::<CommandResult<Vec<_>>>()?,
            _ => {
                return Err(CommandError::new(
                    codes::TYPE_MISMATCH,
                    "$documents requires an array of objects",
                ))
            }
        };
        let results = context.state.store.aggregate_documents(
            transaction,
            context.database,
            input,
            &pipeline[1..],
            &variables,
        )?;
        return Ok(first_batch_reply(
            &context.state.cursors,
            &format!("{}.$cmd.aggregate", context.database),
            results,
            batch_size,
            false,
        ));
    };
    context.check_hint(&collection)?;
    let variables = context.let_variables()?.unwrap_or_default();
    if let Some(collation) = context.collation()? {
        let documents = collated_aggregate(
            context,
            transaction,
            &collection,
            &pipeline,
            collation,
            &variables,
        )?;
        return Ok(first_batch_reply(
            &context.state.cursors,
            &context.namespace(&collection),
            documents,
            batch_size,
            false,
        ));
    }
    let last = match pipeline.last() {
        Some(Bson::Document(stage)) if stage.len() == 1 => stage
            .iter()
            .next()
            .filter(|(name, _)| matches!(name.as_str(), "$out" | "$merge"))
            .map(|(name, spec)| (name.clone(), spec.clone())),
        _ => None,
    };
    if let Some((name, spec)) = last {
        if transaction.is_some() {
            return Err(CommandError::new(
                codes::OPERATION_NOT_SUPPORTED_IN_TRANSACTION,
                format!("Operation not permitted in transaction :: caused by :: {name} cannot be used in a transaction"),
            ));
        }
        let bypass = context
            .boolean("bypassDocumentValidation")?
            .unwrap_or(false);
        let leading = &pipeline[..pipeline.len() - 1];
        let store = &context.state.store;
        if name == "$out" {
            let (database, target) = crate::storage::output::parse_out(&spec)?;
            let database = database.unwrap_or_else(|| context.database.to_string());
            store.aggregate_out(
                context.database,
                &collection,
                leading,
                &variables,
                (&database, &target),
                bypass,
            )?;
        } else {
            let merge = crate::storage::output::parse_merge(&spec)?;
            store.aggregate_merge(
                context.database,
                &collection,
                leading,
                &variables,
                &merge,
                bypass,
            )?;
        }
        return Ok(first_batch_reply(
            &context.state.cursors,
            &context.namespace(&collection),
            Vec::new(),
            batch_size,
            true,
        ));
    }
    let documents = context.state.store.aggregate(
        transaction,
        context.database,
        &collection,
        &pipeline,
        &variables,
    )?;
    Ok(first_batch_reply(
        &context.state.cursors,
        &context.namespace(&collection),
        documents,
        batch_size,
        false,
    ))
}

/// What a collation on `aggregate` is implemented for.
const COLLATED_PIPELINES: &str = "a collation on aggregate is implemented for a pipeline of $match, $sort, $skip and $limit (in that order, each at most once) followed by nothing, $count or a $group with a constant _id and constant $sum accumulators (how drivers count documents)";

/// An aggregate with a collation: its leading `$match`, `$sort`, `$skip` and `$limit` run as a
/// collated `find`; what follows may only be stages no string comparison reaches (`$count`, a
/// `$group` with a constant `_id` and constant `$sum`s), else it is refused with 238 rather than
/// run without the collation.
fn collated_aggregate(
    context: &Context<'_>,
    mut transaction: Option<&mut Transaction>,
    collection: &str,
    pipeline: &[Bson],
    collation: crate::collation::Collation,
    variables: &crate::expression::Variables,
) -> CommandResult<Vec<Document>> {
    let not_implemented = || CommandError::new(codes::NOT_IMPLEMENTED, COLLATED_PIPELINES);
    let mut request = FindRequest {
        collation: Some(collation),
        variables: Some(variables.clone()),
        ..FindRequest::default()
    };
    let mut phase = 0;
    let mut tail_start = pipeline.len();
    for (index, stage) in pipeline.iter().enumerate() {
        let Some((name, spec)) = stage.as_document().and_then(|stage| stage.iter().next()) else {
            return Err(not_implemented());
        };
        let stage_phase = match name.as_str() {
            "$match" => 1,
            "$sort" => 2,
            "$skip" => 3,
            "$limit" => 4,
            _ => {
                tail_start = index;
                break;
            }
        };
        if stage_phase <= phase {
            return Err(not_implemented());
        }
        phase = stage_phase;
        match (name.as_str(), spec) {
            ("$match", Bson::Document(filter)) => request.filter = filter.clone(),
            ("$sort", Bson::Document(sort)) if !sort.is_empty() => {
                request.sort = Some(sort.clone())
            }
            ("$skip", value) => {
                request.skip =
                    match crate::commands::whole_number("aggregate", "$skip", Some(value))? {
                        Some(skip) if skip >= 0 => skip as u64,
                        _ => {
                            return Err(CommandError::new(
                                15956,
                                "Argument to $skip cannot be negative",
                            ))
                        }
                    }
            }
            ("$limit", value) => {
                request.limit =
                    match crate::commands::whole_number("aggregate", "$limit", Some(value))? {
                        Some(limit) if limit > 0 => limit as u64,
                        _ => return Err(CommandError::new(15958, "the limit must be positive")),
                    }
            }
            _ => return Err(not_implemented()),
        }
    }
    let tail = &pipeline[tail_start..];
    if !tail.iter().all(collation_free_stage) {
        return Err(not_implemented());
    }
    let found = context.state.store.find(
        transaction.as_deref_mut(),
        context.database,
        collection,
        &request,
    )?;
    if tail.is_empty() {
        return Ok(found);
    }
    context
        .state
        .store
        .aggregate_documents(transaction, context.database, found, tail, variables)
}

/// A stage whose result no string comparison decides: `$count`, or a `$group` with a constant
/// `_id` whose accumulators are `$sum`s of constants.
fn collation_free_stage(stage: &Bson) -> bool {
    let constant = |value: &Bson| match value {
        Bson::String(text) => !text.starts_with('$'),
        Bson::Document(_) | Bson::Array(_) | Bson::JavaScriptCode(_) => false,
        _ => true,
    };
    let Some((name, spec)) = stage.as_document().and_then(|stage| stage.iter().next()) else {
        return false;
    };
    match (name.as_str(), spec) {
        ("$count", Bson::String(_)) => true,
        ("$group", Bson::Document(group)) => group.iter().all(|(field, value)| match field.as_str() {
            "_id" => constant(value),
            _ => matches!(value, Bson::Document(accumulator)
                if accumulator.len() == 1
                    && accumulator.get("$sum").is_some_and(|sum| constant(sum) && !matches!(sum, Bson::String(_)))),
        }),
        _ => false,
    }
}
