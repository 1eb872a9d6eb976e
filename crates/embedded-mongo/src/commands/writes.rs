//! Write commands: `insert`, `update`, `delete` and `findAndModify`, with per-statement
//! `writeErrors` in MongoDB's shape.

use bson::{doc, Bson, Document};

use super::{count_value, missing_field, optional_boolean, wrong_type, Context};
use crate::error::{codes, CommandError, CommandResult};
use crate::storage::{
    DeleteStatement, FindAndModifyRequest, Transaction, UpdateStatement, WriteOptions, WriteOutcome,
};
use crate::update::check_update_pipeline;
use crate::wire::{document_size, MAX_BSON_OBJECT_SIZE, MAX_WRITE_BATCH_SIZE};

fn check_batch_size(count: usize) -> CommandResult<()> {
    if count == 0 || count > MAX_WRITE_BATCH_SIZE as usize {
        return Err(CommandError::new(
            codes::INVALID_LENGTH,
            format!("Write batch sizes must be between 1 and {MAX_WRITE_BATCH_SIZE}. Got {count} operations."),
        ));
    }
    Ok(())
}

/// The reply of a write command. Inside a transaction, a write conflict (or any error carrying
/// a label) fails the whole command so that drivers see its `errorLabels` and retry.
fn write_reply(
    outcome: WriteOutcome,
    in_transaction: bool,
    include_modified: bool,
) -> CommandResult<Document> {
    if in_transaction {
        if let Some((_, error)) = outcome
            .errors
            .iter()
            .find(|(_, error)| error.code == codes::WRITE_CONFLICT || !error.labels.is_empty())
        {
            return Err(error.clone());
        }
    }
    let mut reply = doc! {"n": count_value(outcome.n)};
    if include_modified {
        reply.insert("nModified", count_value(outcome.n_modified));
        if !outcome.upserted.is_empty() {
            let upserted: Vec<Bson> = outcome
                .upserted
                .into_iter()
                .map(|(index, id)| Bson::Document(doc! {"index": index as i32, "_id": id}))
                .collect();
            reply.insert("upserted", upserted);
        }
    }
    if !outcome.errors.is_empty() {
        let errors: Vec<Bson> = outcome
            .errors
            .iter()
            .map(|(index, error)| Bson::Document(error.to_write_error(*index)))
            .collect();
        reply.insert("writeErrors", errors);
    }
    reply.insert("ok", 1.0);
    Ok(reply)
}

pub fn insert(
    context: &Context<'_>,
    transaction: Option<&mut Transaction>,
) -> CommandResult<Document> {
    let collection = context.collection()?;
    let documents = context.documents("documents")?;
    check_batch_size(documents.len())?;
    let ordered = context.boolean("ordered")?.unwrap_or(true);
    let write_options = WriteOptions {
        ordered,
        bypass_document_validation: bypasses_validation(context)?,
    };
    let in_transaction = transaction.is_some();
    // Documents over 16 MiB fail on their own, as in MongoDB; the rest go to the store with
    // their original statement indexes restored afterwards.
    let mut accepted = Vec::with_capacity(documents.len());
    let mut original_index = Vec::with_capacity(documents.len());
    let mut too_large = Vec::new();
    for (index, document) in documents.into_iter().enumerate() {
        let size = document_size(&document);
        if size > MAX_BSON_OBJECT_SIZE as usize {
            too_large.push((
                index,
                CommandError::new(
                    codes::BSON_OBJECT_TOO_LARGE,
                    format!("object to insert too large. size in bytes: {size}, max size: {MAX_BSON_OBJECT_SIZE}"),
                ),
            ));
            if ordered {
                break;
            }
            continue;
        }
        accepted.push(document);
        original_index.push(index);
    }
    let mut outcome = if accepted.is_empty() {
        WriteOutcome::default()
    } else {
        context.state.store.insert_with(
            transaction,
            context.database,
            &collection,
            accepted,
            write_options,
        )
    };
    for (index, _) in &mut outcome.errors {
        *index = original_index.get(*index).copied().unwrap_or(*index);
    }
    // An ordered batch stops at the store's first error, before any later oversized document.
    if !ordered || outcome.errors.is_empty() {
        outcome.errors.extend(too_large);
    }
    outcome.errors.sort_by_key(|(index, _)| *index);
    write_reply(outcome, in_transaction, false)
}

pub fn update(
    context: &Context<'_>,
    transaction: Option<&mut Transaction>,
) -> CommandResult<Document> {
    let collection = context.collection()?;
    let raw = context.documents("updates")?;
    check_batch_size(raw.len())?;
    let ordered = context.boolean("ordered")?.unwrap_or(true);
    let variables = context.let_variables()?;
    let statements = raw
        .iter()
        .map(|statement| parse_update_statement(statement, variables.as_ref()))
        .collect::<CommandResult<Vec<_>>>()?;
    let in_transaction = transaction.is_some();
    let write_options = WriteOptions {
        ordered,
        bypass_document_validation: bypasses_validation(context)?,
    };
    let outcome = context.state.store.update_with(
        transaction,
        context.database,
        &collection,
        &statements,
        write_options,
    );
    write_reply(outcome, in_transaction, true)
}

/// `bypassDocumentValidation: true` skips the collection's validator for this command, as in
/// MongoDB (where it needs a privilege; this store has no authentication).
fn bypasses_validation(context: &Context<'_>) -> CommandResult<bool> {
    Ok(context
        .boolean("bypassDocumentValidation")?
        .unwrap_or(false))
}

fn parse_update_statement(
    statement: &Document,
    variables: Option<&crate::expression::Variables>,
) -> CommandResult<UpdateStatement> {
    let filter = match statement.get("q") {
        Some(Bson::Document(filter)) => filter.clone(),
        Some(other) => return Err(wrong_type("update.updates", "q", other, "object")),
        None => return Err(missing_field("update.updates", "q")),
    };
    let update = match statement.get("u") {
        Some(Bson::Array(stages)) => {
            check_update_pipeline(stages)?;
            Bson::Array(stages.clone())
        }
        Some(update @ Bson::Document(_)) => update.clone(),
        Some(other) => return Err(wrong_type("update.updates", "u", other, "object")),
        None => return Err(missing_field("update.updates", "u")),
    };
    // `c`: constants a pipeline update reads as `$$name`, bound over the command's `let`.
    let variables = match statement.get("c") {
        None | Some(Bson::Null) => variables.cloned(),
        Some(Bson::Document(constants)) => {
            if !matches!(update, Bson::Array(_)) {
                return Err(CommandError::new(
                    51198,
                    "Constant values may only be specified for pipeline updates",
                ));
            }
            let mut bound = variables.cloned().unwrap_or_default();
            for (name, value) in constants {
                crate::expression::validate_variable_name(name)?;
                bound = bound.with(name, value.clone());
            }
            Some(bound)
        }
        Some(other) => return Err(wrong_type("update.updates", "c", other, "object")),
    };
    Ok(UpdateStatement {
        filter,
        update,
        multi: optional_boolean("update.updates", "multi", statement.get("multi"))?
            .unwrap_or(false),
        upsert: optional_boolean("update.updates", "upsert", statement.get("upsert"))?
            .unwrap_or(false),
        array_filters: array_filters("update.updates", statement.get("arrayFilters"))?,
        variables,
        collation: statement_collation(statement)?,
    })
}

/// A write statement's `collation`, `None` when absent or simple.
fn statement_collation(statement: &Document) -> CommandResult<Option<crate::collation::Collation>> {
    match statement.get("collation") {
        None => Ok(None),
        Some(value) => crate::collation::Collation::parse(value),
    }
}

fn array_filters(command: &str, value: Option<&Bson>) -> CommandResult<Vec<Document>> {
    match value {
        None | Some(Bson::Null) => Ok(Vec::new()),
        Some(Bson::Array(filters)) => filters
            .iter()
            .map(|filter| match filter {
                Bson::Document(filter) => Ok(filter.clone()),
                other => Err(wrong_type(command, "arrayFilters", other, "object")),
            })
            .collect(),
        Some(other) => Err(wrong_type(command, "arrayFilters", other, "array")),
    }
}

pub fn delete(
    context: &Context<'_>,
    transaction: Option<&mut Transaction>,
) -> CommandResult<Document> {
    let collection = context.collection()?;
    let raw = context.documents("deletes")?;
    check_batch_size(raw.len())?;
    let ordered = context.boolean("ordered")?.unwrap_or(true);
    let variables = context.let_variables()?;
    let statements = raw
        .iter()
        .map(|statement| {
            let filter = match statement.get("q") {
                Some(Bson::Document(filter)) => filter.clone(),
                Some(other) => return Err(wrong_type("delete.deletes", "q", other, "object")),
                None => return Err(missing_field("delete.deletes", "q")),
            };
            let limit =
                match super::optional_integer("delete.deletes", "limit", statement.get("limit"))? {
                    Some(limit @ (0 | 1)) => limit as u32,
                    Some(other) => {
                        return Err(CommandError::failed_to_parse(format!(
                            "The limit field in delete objects must be 0 or 1. Got {other}"
                        )))
                    }
                    None => return Err(missing_field("delete.deletes", "limit")),
                };
            Ok(DeleteStatement {
                filter,
                limit,
                variables: variables.clone(),
                collation: statement_collation(statement)?,
            })
        })
        .collect::<CommandResult<Vec<_>>>()?;
    let in_transaction = transaction.is_some();
    let outcome = context.state.store.delete(
        transaction,
        context.database,
        &collection,
        &statements,
        ordered,
    );
    write_reply(outcome, in_transaction, false)
}

pub fn find_and_modify(
    context: &Context<'_>,
    transaction: Option<&mut Transaction>,
) -> CommandResult<Document> {
    let collection = context.collection()?;
    context.check_hint(&collection)?;
    let remove = context.boolean("remove")?.unwrap_or(false);
    let update = match context.body.get("update") {
        None | Some(Bson::Null) => None,
        Some(Bson::Array(stages)) => {
            check_update_pipeline(stages)?;
            Some(Bson::Array(stages.clone()))
        }
        Some(update @ Bson::Document(_)) => Some(update.clone()),
        Some(other) => return Err(wrong_type(context.name, "update", other, "object")),
    };
    let return_new = context.boolean("new")?.unwrap_or(false);
    let upsert = context.boolean("upsert")?.unwrap_or(false);
    match (remove, update.is_some()) {
        (true, true) => {
            return Err(CommandError::failed_to_parse(
                "Cannot specify both an update and remove=true",
            ))
        }
        (false, false) => {
            return Err(CommandError::failed_to_parse(
                "Either an update or remove=true must be specified",
            ))
        }
        _ => {}
    }
    if remove && return_new {
        return Err(CommandError::failed_to_parse(
            "Cannot specify both new=true and remove=true; 'remove' always returns the deleted document",
        ));
    }
    if remove && upsert {
        return Err(CommandError::failed_to_parse(
            "Cannot specify both upsert=true and remove=true ",
        ));
    }
    let request = FindAndModifyRequest {
        filter: context.document("query")?.unwrap_or_default(),
        sort: context.document("sort")?.filter(|sort| !sort.is_empty()),
        fields: context.document("fields")?,
        remove,
        update,
        return_new,
        upsert,
        array_filters: array_filters(context.name, context.body.get("arrayFilters"))?,
        variables: context.let_variables()?,
        collation: context.collation()?,
    };
    let outcome = context.state.store.find_and_modify_with(
        transaction,
        context.database,
        &collection,
        &request,
        bypasses_validation(context)?,
    )?;
    let mut last_error = doc! {"n": count_value(outcome.n)};
    if !remove {
        last_error.insert("updatedExisting", outcome.updated_existing);
    }
    if let Some(id) = outcome.upserted {
        last_error.insert("upserted", id);
    }
    Ok(doc! {
        "lastErrorObject": last_error,
        "value": outcome.value.map_or(Bson::Null, Bson::Document),
        "ok": 1.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_batches_must_hold_one_to_100000_statements() {
        assert_eq!(check_batch_size(0).unwrap_err().code, codes::INVALID_LENGTH);
        assert!(check_batch_size(100_000).is_ok());
        assert_eq!(
            check_batch_size(100_001).unwrap_err().code,
            codes::INVALID_LENGTH
        );
    }

    #[test]
    fn update_replies_list_upserts_and_write_errors_by_statement_index() {
        let outcome = WriteOutcome {
            n: 2,
            n_modified: 1,
            upserted: vec![(1, Bson::Int32(9))],
            errors: vec![(2, CommandError::new(codes::DUPLICATE_KEY, "dup"))],
        };
        let reply = write_reply(outcome, false, true).unwrap();
        assert_eq!(reply.get_i32("n").unwrap(), 2);
        assert_eq!(reply.get_i32("nModified").unwrap(), 1);
        assert_eq!(
            reply.get_array("upserted").unwrap(),
            &vec![Bson::Document(doc! {"index": 1, "_id": 9})]
        );
        let errors = reply.get_array("writeErrors").unwrap();
        assert_eq!(
            errors[0]
                .as_document()
                .unwrap()
                .get_str("codeName")
                .unwrap(),
            "DuplicateKey"
        );
    }

    #[test]
    fn a_write_conflict_inside_a_transaction_fails_the_command_with_its_label() {
        let conflict = CommandError::new(codes::WRITE_CONFLICT, "conflict")
            .with_label("TransientTransactionError");
        let outcome = WriteOutcome {
            errors: vec![(0, conflict.clone())],
            ..WriteOutcome::default()
        };
        assert_eq!(write_reply(outcome, true, false).unwrap_err(), conflict);
    }

    #[test]
    fn an_update_pipeline_with_a_forbidden_stage_fails_the_statement_parse() {
        let statement = doc! {"q": {}, "u": [{"$match": {"a": 1}}]};
        assert_eq!(
            parse_update_statement(&statement, None).unwrap_err().code,
            codes::INVALID_OPTIONS
        );
        let statement = doc! {"q": {}, "u": [{"$nope": {}}]};
        assert_eq!(
            parse_update_statement(&statement, None).unwrap_err().code,
            codes::UNRECOGNIZED_PIPELINE_STAGE
        );
    }

    #[test]
    fn update_statements_without_u_miss_a_required_field() {
        let statement = doc! {"q": {}, "limit": 2};
        let error = parse_update_statement(&statement, None).unwrap_err();
        assert_eq!(error.code, 40414);
    }
}
