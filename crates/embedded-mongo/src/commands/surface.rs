//! The command surface: every option the data commands accept, and for each whether the store
//! implements it, accepts it because it cannot change a result here, or refuses it with
//! MongoDB's code. Dispatch checks a command against this table before its handler runs, so an
//! option the store does not implement is never accepted and ignored, and an option no command
//! knows is MongoDB's unknown-field error (40415). The crate README's support table is rendered
//! from this table by [`support_table_markdown`], and a test keeps the two equal.

use bson::{Bson, Document};

use crate::error::{codes, CommandError, CommandResult};

/// How the store treats one option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Implemented; `tested_by` is `file::test_name` of a behavioural test under `tests/`.
    Implemented { tested_by: &'static str },
    /// Accepted without effect because it cannot change a result on a single-node,
    /// in-memory-first store (mongod on a single node ignores it too, or every value of it
    /// means what this store always does); `why` says which.
    Inert { why: &'static str },
    /// Refused with `code` before anything runs; `why` names what is missing.
    Refused { code: i32, why: &'static str },
}

/// One option of a command; nested options are dotted (`updates.collation`).
#[derive(Debug, Clone, Copy)]
pub struct OptionSupport {
    pub name: &'static str,
    pub support: Support,
}

/// The options of one command.
#[derive(Debug, Clone, Copy)]
pub struct CommandSurface {
    pub command: &'static str,
    pub options: &'static [OptionSupport],
    /// Array-of-documents options whose elements are checked field by field (`updates`).
    pub statements: &'static [&'static str],
}

const fn implemented(name: &'static str, tested_by: &'static str) -> OptionSupport {
    OptionSupport {
        name,
        support: Support::Implemented { tested_by },
    }
}

const fn inert(name: &'static str, why: &'static str) -> OptionSupport {
    OptionSupport {
        name,
        support: Support::Inert { why },
    }
}

/// Refused with `NotImplemented` (238): a MongoDB option this store does not implement.
const fn missing(name: &'static str, why: &'static str) -> OptionSupport {
    OptionSupport {
        name,
        support: Support::Refused {
            code: codes::NOT_IMPLEMENTED,
            why,
        },
    }
}

const fn refused(name: &'static str, code: i32, why: &'static str) -> OptionSupport {
    OptionSupport {
        name,
        support: Support::Refused { code, why },
    }
}

const COLLATION: &str = "collation (locale \"en\", strength 1-3, numericOrdering) is implemented on find, count, distinct, update, delete, findAndModify and simple aggregates only; here only `{locale: \"simple\"}` (binary comparison, what the store always does) on reads and writes";
const HINT: &str =
    "hints on update and delete statements are not implemented (command-level hints are checked)";
const VIEWS: &str =
    "changing a view's definition with collMod is not implemented (drop and create it)";
const TIME_SERIES: &str = "time-series collections are out of scope";
const CAPPED: &str = "capped collections are not implemented";
const TAILABLE: &str = "tailable cursors need capped collections, which are not implemented";
const SORT_8_0: &str =
    "`sort` on update statements was introduced in MongoDB 8.0; this server reports 7.0";

/// Every data command and its options. Commands not listed here (the handshake, diagnostics
/// and session commands) take no options that change a result.
pub const SURFACE: &[CommandSurface] = &[
    CommandSurface {
        command: "find",
        statements: &[],
        options: &[
            implemented("filter", "conformance/commands.rs::find_applies_filter_sort_skip_limit_and_projection"),
            implemented("sort", "conformance/commands.rs::find_applies_filter_sort_skip_limit_and_projection"),
            implemented("projection", "conformance/commands.rs::find_applies_filter_sort_skip_limit_and_projection"),
            implemented("skip", "conformance/commands.rs::find_applies_filter_sort_skip_limit_and_projection"),
            implemented("limit", "conformance/commands.rs::negative_limit_returns_a_single_batch"),
            implemented("batchSize", "conformance/commands.rs::get_more_returns_next_batches_until_the_cursor_is_exhausted"),
            implemented("singleBatch", "conformance/commands.rs::single_batch_closes_the_cursor"),
            inert("allowDiskUse", "results never spill to disk, so every value behaves the same"),
            inert("allowPartialResults", "only meaningful on sharded clusters; mongod ignores it"),
            inert("oplogReplay", "deprecated; mongod 4.4+ ignores it"),
            implemented("collation", "conformance/collation.rs::find_compares_and_sorts_strings_by_the_english_collation"),
            implemented("hint", "conformance/hints.rs::a_hint_naming_an_existing_index_is_accepted_and_changes_no_result"),
            implemented("let", "conformance/let_variables.rs::find_let_variables_reach_expr"),
            missing("min", "index bounds `min`/`max` are not implemented"),
            missing("max", "index bounds `min`/`max` are not implemented"),
            missing("returnKey", "`returnKey` is not implemented"),
            missing("showRecordId", "`showRecordId` is not implemented"),
            missing("tailable", TAILABLE),
            missing("awaitData", TAILABLE),
            missing("noCursorTimeout", "idle cursors always time out after 10 minutes"),
        ],
    },
    CommandSurface {
        command: "insert",
        statements: &[],
        options: &[
            implemented("documents", "conformance/commands.rs::insert_reply_counts_documents"),
            implemented("ordered", "conformance/commands.rs::unordered_insert_reports_every_failed_document_and_writes_the_rest"),
            implemented("bypassDocumentValidation", "conformance/validation.rs::bypass_document_validation_skips_the_validator"),
        ],
    },
    CommandSurface {
        command: "update",
        statements: &["updates"],
        options: &[
            implemented("updates", "conformance/commands.rs::update_reply_reports_matched_modified_and_upserted"),
            implemented("ordered", "conformance/surface.rs::an_unordered_update_applies_the_statements_after_a_failed_one"),
            implemented("bypassDocumentValidation", "conformance/validation.rs::bypass_document_validation_skips_the_validator"),
            implemented("let", "conformance/let_variables.rs::update_let_variables_reach_the_filter_and_a_pipeline_update"),
            implemented("updates.q", "conformance/commands.rs::update_one_versus_update_many"),
            implemented("updates.u", "conformance/commands.rs::update_one_versus_update_many"),
            implemented("updates.multi", "conformance/commands.rs::update_one_versus_update_many"),
            implemented("updates.upsert", "conformance/commands.rs::update_reply_reports_matched_modified_and_upserted"),
            implemented("updates.arrayFilters", "conformance/commands.rs::update_with_array_filters_updates_only_matching_elements"),
            implemented("updates.collation", "conformance/collation.rs::updates_deletes_and_find_and_modify_match_by_the_collation"),
            missing("updates.hint", HINT),
            implemented("updates.c", "conformance/let_variables.rs::pipeline_update_constants_are_seen_as_variables"),
            refused("updates.sort", codes::UNKNOWN_FIELD, SORT_8_0),
        ],
    },
    CommandSurface {
        command: "delete",
        statements: &["deletes"],
        options: &[
            implemented("deletes", "conformance/commands.rs::delete_reply_counts_and_limit_one_deletes_one"),
            implemented("ordered", "conformance/surface.rs::an_unordered_delete_applies_the_statements_after_a_failed_one"),
            implemented("let", "conformance/let_variables.rs::delete_let_variables_reach_expr"),
            implemented("deletes.q", "conformance/commands.rs::delete_reply_counts_and_limit_one_deletes_one"),
            implemented("deletes.limit", "conformance/commands.rs::delete_reply_counts_and_limit_one_deletes_one"),
            implemented("deletes.collation", "conformance/collation.rs::updates_deletes_and_find_and_modify_match_by_the_collation"),
            missing("deletes.hint", HINT),
        ],
    },
    CommandSurface {
        command: "findAndModify",
        statements: &[],
        options: &[
            implemented("query", "conformance/commands.rs::find_and_modify_new_sort_and_fields"),
            implemented("sort", "conformance/commands.rs::find_and_modify_new_sort_and_fields"),
            implemented("fields", "conformance/commands.rs::find_and_modify_new_sort_and_fields"),
            implemented("new", "conformance/commands.rs::find_and_modify_new_sort_and_fields"),
            implemented("update", "conformance/commands.rs::find_and_modify_returns_the_old_document_by_default"),
            implemented("remove", "conformance/commands.rs::find_and_modify_remove_returns_the_removed_document"),
            implemented("upsert", "conformance/commands.rs::find_and_modify_upsert_reports_the_upserted_id"),
            implemented("arrayFilters", "conformance/surface.rs::find_and_modify_applies_array_filters"),
            implemented("bypassDocumentValidation", "conformance/surface.rs::find_and_modify_can_bypass_the_validator"),
            implemented("collation", "conformance/collation.rs::updates_deletes_and_find_and_modify_match_by_the_collation"),
            implemented("hint", "conformance/hints.rs::a_hint_naming_an_existing_index_is_accepted_and_changes_no_result"),
            implemented("let", "conformance/let_variables.rs::find_and_modify_let_variables_reach_the_query_and_a_pipeline_update"),
        ],
    },
    CommandSurface {
        command: "aggregate",
        statements: &[],
        options: &[
            implemented("pipeline", "conformance/commands.rs::aggregate_reply_is_a_cursor"),
            implemented("cursor", "conformance/commands.rs::aggregate_with_batch_size_continues_with_get_more"),
            inert("allowDiskUse", "results never spill to disk, so every value behaves the same"),
            implemented("bypassDocumentValidation", "conformance/output_stages.rs::out_respects_the_target_validator_unless_bypassed"),
            refused("explain", codes::COMMAND_NOT_SUPPORTED, "explain is not implemented"),
            implemented("collation", "conformance/collation.rs::aggregate_takes_a_collation_for_what_drivers_send_and_refuses_the_rest"),
            implemented("hint", "conformance/hints.rs::a_hint_naming_an_existing_index_is_accepted_and_changes_no_result"),
            implemented("let", "conformance/let_variables.rs::aggregate_let_variables_reach_every_stage"),
        ],
    },
    CommandSurface {
        command: "count",
        statements: &[],
        options: &[
            implemented("query", "conformance/commands.rs::count_command_replies_n_and_honours_query_skip_limit"),
            implemented("skip", "conformance/commands.rs::count_command_replies_n_and_honours_query_skip_limit"),
            implemented("limit", "conformance/commands.rs::count_command_replies_n_and_honours_query_skip_limit"),
            implemented("collation", "conformance/collation.rs::count_counts_matches_under_the_collation"),
            implemented("hint", "conformance/hints.rs::a_hint_naming_an_existing_index_is_accepted_and_changes_no_result"),
        ],
    },
    CommandSurface {
        command: "distinct",
        statements: &[],
        options: &[
            implemented("key", "conformance/commands.rs::distinct_returns_unique_values_flattening_arrays"),
            implemented("query", "conformance/surface.rs::distinct_honours_its_query"),
            implemented("collation", "conformance/collation.rs::distinct_counts_values_the_collation_finds_equal_once"),
            implemented("hint", "conformance/hints.rs::a_hint_naming_an_existing_index_is_accepted_and_changes_no_result"),
        ],
    },
    CommandSurface {
        command: "getMore",
        statements: &[],
        options: &[
            implemented("collection", "conformance/commands.rs::get_more_returns_next_batches_until_the_cursor_is_exhausted"),
            implemented("batchSize", "conformance/commands.rs::get_more_returns_next_batches_until_the_cursor_is_exhausted"),
        ],
    },
    CommandSurface {
        command: "killCursors",
        statements: &[],
        options: &[implemented("cursors", "conformance/commands.rs::kill_cursors_reports_killed_and_not_found_ids")],
    },
    CommandSurface {
        command: "listCollections",
        statements: &[],
        options: &[
            implemented("filter", "conformance/commands.rs::list_collections_filter_and_name_only"),
            implemented("nameOnly", "conformance/commands.rs::list_collections_filter_and_name_only"),
            implemented("cursor", "conformance/surface.rs::list_collections_honours_the_cursor_batch_size"),
            inert("authorizedCollections", "there is no authentication, so every collection is authorized"),
        ],
    },
    CommandSurface {
        command: "listDatabases",
        statements: &[],
        options: &[
            implemented("filter", "conformance/surface.rs::list_databases_honours_its_filter"),
            implemented("nameOnly", "conformance/commands.rs::list_databases_name_only_returns_only_names"),
            inert("authorizedDatabases", "there is no authentication, so every database is authorized"),
        ],
    },
    CommandSurface {
        command: "listIndexes",
        statements: &[],
        options: &[implemented("cursor", "conformance/surface.rs::list_indexes_honours_the_cursor_batch_size")],
    },
    CommandSurface {
        command: "create",
        statements: &[],
        options: &[
            implemented("validator", "conformance/commands.rs::create_with_validator_stores_it_in_list_collections_options"),
            implemented("validationLevel", "conformance/validation.rs::moderate_validation_level_allows_updates_to_already_invalid_documents"),
            implemented("validationAction", "conformance/validation.rs::validation_action_warn_accepts_invalid_documents"),
            implemented("viewOn", "conformance/views.rs::a_view_shows_its_pipeline_over_its_source_to_every_read"),
            implemented("pipeline", "conformance/views.rs::a_view_shows_its_pipeline_over_its_source_to_every_read"),
            refused("timeseries", codes::COMMAND_NOT_SUPPORTED, TIME_SERIES),
            refused("expireAfterSeconds", codes::COMMAND_NOT_SUPPORTED, TIME_SERIES),
            missing("capped", CAPPED),
            missing("size", CAPPED),
            missing("max", CAPPED),
            missing("collation", COLLATION),
            missing("clusteredIndex", "clustered collections are not implemented"),
            implemented("changeStreamPreAndPostImages", "conformance/change_streams.rs::pre_and_post_images_are_kept_once_enabled_and_streams_may_require_them"),
            missing("indexOptionDefaults", "index option defaults are not implemented"),
            missing("storageEngine", "there is one storage engine and it takes no options"),
            missing("encryptedFields", "queryable encryption is not implemented"),
        ],
    },
    CommandSurface {
        command: "collMod",
        statements: &[],
        options: &[
            implemented("validator", "conformance/commands.rs::coll_mod_replaces_the_validator"),
            implemented("validationLevel", "conformance/surface.rs::coll_mod_changes_the_validation_level"),
            implemented("validationAction", "conformance/surface.rs::coll_mod_changes_the_validation_level"),
            implemented("index", "conformance/surface.rs::coll_mod_changes_a_ttl_index_expiry"),
            refused("viewOn", codes::COMMAND_NOT_SUPPORTED, VIEWS),
            refused("pipeline", codes::COMMAND_NOT_SUPPORTED, VIEWS),
            refused("expireAfterSeconds", codes::COMMAND_NOT_SUPPORTED, TIME_SERIES),
            implemented("changeStreamPreAndPostImages", "conformance/change_streams.rs::pre_and_post_images_are_kept_once_enabled_and_streams_may_require_them"),
            missing("cappedSize", CAPPED),
            missing("cappedMax", CAPPED),
        ],
    },
    CommandSurface {
        command: "createIndexes",
        statements: &["indexes"],
        options: &[
            implemented("indexes", "conformance/commands.rs::create_list_and_drop_indexes_reply_shapes"),
            inert("commitQuorum", "a single node is every quorum"),
            implemented("indexes.key", "conformance/commands.rs::create_list_and_drop_indexes_reply_shapes"),
            implemented("indexes.name", "conformance/commands.rs::create_list_and_drop_indexes_reply_shapes"),
            implemented("indexes.unique", "conformance/indexes.rs::unique_index_rejects_a_duplicate_insert_with_11000_and_writes_nothing"),
            implemented("indexes.sparse", "conformance/indexes.rs::sparse_unique_index_allows_many_documents_without_the_field"),
            implemented("indexes.partialFilterExpression", "conformance/indexes.rs::partial_unique_index_applies_only_to_matching_documents"),
            implemented("indexes.expireAfterSeconds", "conformance/indexes.rs::ttl_index_removes_expired_documents_in_the_background"),
            implemented("indexes.weights", "conformance/indexes.rs::text_index_spec_is_listed_with_weights"),
            inert("indexes.default_language", "text search does no stemming, so every language tokenises alike"),
            inert("indexes.language_override", "text search does no stemming, so every language tokenises alike"),
            inert("indexes.textIndexVersion", "there is one text index version"),
            inert("indexes.v", "there is one index version"),
            inert("indexes.background", "mongod 4.2+ ignores it"),
            inert("indexes.hidden", "the planner never changes a result; listIndexes reports it back"),
            inert("indexes.ns", "legacy field; the command's namespace is the one used"),
            missing("indexes.collation", COLLATION),
            missing("indexes.wildcardProjection", "wildcard indexes are not implemented"),
            missing("indexes.2dsphereIndexVersion", "geospatial indexes are not implemented"),
            missing("indexes.bits", "geospatial indexes are not implemented"),
            missing("indexes.min", "geospatial indexes are not implemented"),
            missing("indexes.max", "geospatial indexes are not implemented"),
            missing("indexes.storageEngine", "there is one storage engine and it takes no options"),
            missing("indexes.clustered", "clustered collections are not implemented"),
        ],
    },
    CommandSurface {
        command: "$changeStream",
        statements: &[],
        options: &[
            implemented("fullDocument", "conformance/change_streams.rs::update_lookup_returns_the_current_document"),
            implemented("resumeAfter", "conformance/change_streams.rs::resume_after_continues_from_the_token_with_a_new_client"),
            implemented("startAfter", "conformance/change_streams.rs::start_after_continues_from_the_token"),
            implemented("startAtOperationTime", "conformance/surface.rs::a_change_stream_started_at_an_operation_time_sees_the_writes_after_it"),
            implemented("allChangesForCluster", "conformance/change_streams.rs::deployment_stream_sees_every_database"),
            implemented("fullDocumentBeforeChange", "conformance/change_streams.rs::pre_and_post_images_are_kept_once_enabled_and_streams_may_require_them"),
            implemented("showExpandedEvents", "conformance/change_streams.rs::expanded_events_report_schema_changes_with_their_description"),
        ],
    },
    CommandSurface {
        command: "dropIndexes",
        statements: &[],
        options: &[implemented("index", "conformance/commands.rs::drop_index_by_key_pattern")],
    },
    CommandSurface {
        command: "drop",
        statements: &[],
        options: &[],
    },
    CommandSurface {
        command: "dropDatabase",
        statements: &[],
        options: &[],
    },
    CommandSurface {
        command: "renameCollection",
        statements: &[],
        options: &[
            implemented("to", "conformance/rename.rs::rename_moves_documents_indexes_and_options"),
            implemented("dropTarget", "conformance/rename.rs::an_existing_target_is_refused_unless_drop_target"),
        ],
    },
];

/// Arguments any command may carry; they are checked by the session and read-concern rules,
/// not by the option table.
pub const GENERIC_ARGUMENTS: &[&str] = &[
    "$db",
    "lsid",
    "txnNumber",
    "autocommit",
    "startTransaction",
    "$clusterTime",
    "$readPreference",
    "readConcern",
    "writeConcern",
    "comment",
    "maxTimeMS",
    "apiVersion",
    "apiStrict",
    "apiDeprecationErrors",
    "$audit",
    "$client",
    "mayBypassWriteBlocking",
];

/// The surface of `command`, under its canonical name (`findandmodify` is `findAndModify`).
pub fn surface_of(command: &str) -> Option<&'static CommandSurface> {
    let canonical = match command {
        "findandmodify" => "findAndModify",
        "deleteIndexes" => "dropIndexes",
        other => other,
    };
    SURFACE.iter().find(|surface| surface.command == canonical)
}

impl CommandSurface {
    fn option(&self, name: &str) -> Option<&'static Support> {
        self.options
            .iter()
            .find(|option| option.name == name)
            .map(|option| &option.support)
    }
}

fn check_one(surface: &CommandSurface, name: &str) -> CommandResult<()> {
    match surface.option(name) {
        None => Err(CommandError::new(
            codes::UNKNOWN_FIELD,
            format!(
                "BSON field '{}.{name}' is an unknown field.",
                surface.command
            ),
        )),
        Some(Support::Refused { code, why }) => Err(CommandError::new(
            *code,
            format!(
                "BSON field '{}.{name}' is not supported by embedded-mongo: {why}",
                surface.command
            ),
        )),
        Some(Support::Implemented { .. } | Support::Inert { .. }) => Ok(()),
    }
}

/// The refusal for `option` of `command` (a command or a stage such as `$changeStream`): its
/// table code when refused, 40415 when unknown, `None` when accepted.
pub fn refusal(command: &str, option: &str) -> Option<CommandError> {
    let surface = SURFACE.iter().find(|surface| surface.command == command)?;
    check_one(surface, option).err()
}

/// `{locale: "simple"}` asks for binary comparison, which is what the store does: reads and
/// writes accept it. Collections and indexes keep refusing it (mongod would record it).
fn admits_simple_collation(command: &str, value: &Bson) -> bool {
    let simple = matches!(value, Bson::Document(collation)
        if collation.len() == 1 && collation.get_str("locale") == Ok("simple"));
    simple
        && matches!(
            command,
            "find"
                | "update"
                | "delete"
                | "findAndModify"
                | "findandmodify"
                | "aggregate"
                | "count"
                | "distinct"
        )
}

/// Refuses a command body carrying an option that `command`'s surface does not accept. Commands
/// without a surface are not checked.
pub fn check(command: &str, body: &Document) -> CommandResult<()> {
    let Some(surface) = surface_of(command) else {
        return Ok(());
    };
    for (key, value) in body.iter().skip(1) {
        if GENERIC_ARGUMENTS.contains(&key.as_str()) {
            continue;
        }
        if key == "collation" && admits_simple_collation(command, value) {
            continue;
        }
        check_one(surface, key)?;
        if surface.statements.contains(&key.as_str()) {
            let Bson::Array(statements) = value else {
                continue;
            };
            for statement in statements {
                let Bson::Document(statement) = statement else {
                    continue;
                };
                for (field, value) in statement {
                    if field == "collation" && admits_simple_collation(command, value) {
                        continue;
                    }
                    check_one(surface, &format!("{key}.{field}"))?;
                }
            }
        }
    }
    Ok(())
}

/// The README's support table, generated from [`SURFACE`].
pub fn support_table_markdown() -> String {
    let mut table = String::from("| command | option | support |\n|---|---|---|\n");
    for surface in SURFACE {
        if surface.options.is_empty() {
            table.push_str(&format!(
                "| `{}` | (none) | any option is refused with 40415 |\n",
                surface.command
            ));
        }
        for option in surface.options {
            let support = match option.support {
                Support::Implemented { tested_by } => format!("implemented (`{tested_by}`)"),
                Support::Inert { why } => format!("accepted, no effect: {why}"),
                Support::Refused { code, why } => {
                    format!("refused, {code} `{}`: {why}", crate::error::code_name(code))
                }
            };
            table.push_str(&format!(
                "| `{}` | `{}` | {support} |\n",
                surface.command, option.name
            ));
        }
    }
    table.push_str(&format!(
        "\nAny other option of these commands is refused with 40415 (`BSON field '<command>.<option>' \
         is an unknown field.`). Every command also takes the generic arguments {}.\n",
        GENERIC_ARGUMENTS
            .iter()
            .map(|argument| format!("`{argument}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    table
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;

    #[test]
    fn an_unknown_option_is_40415_naming_the_command_and_field() {
        let error = check("find", &doc! {"find": "c", "frobnicate": 1}).unwrap_err();
        assert_eq!(error.code, 40415);
        assert_eq!(
            error.message,
            "BSON field 'find.frobnicate' is an unknown field."
        );
    }

    #[test]
    fn a_refused_nested_statement_option_names_its_path() {
        let body = doc! {"update": "c", "updates": [{"q": {}, "u": {}, "sort": {"a": 1}}]};
        let error = check("update", &body).unwrap_err();
        assert_eq!(error.code, 40415);
        assert!(
            error.message.contains("'update.updates.sort'"),
            "{}",
            error.message
        );
        let body = doc! {"delete": "c", "deletes": [{"q": {}, "limit": 1, "hint": {"a": 1}}]};
        assert_eq!(
            check("delete", &body).unwrap_err().code,
            codes::NOT_IMPLEMENTED
        );
    }

    #[test]
    fn generic_arguments_and_implemented_options_pass() {
        let body = doc! {"find": "c", "filter": {}, "lsid": {}, "readConcern": {}, "$db": "x"};
        assert!(check("find", &body).is_ok());
        assert_eq!(
            check(
                "findandmodify",
                &doc! {"findandmodify": "c", "colation": {}}
            )
            .unwrap_err()
            .code,
            codes::UNKNOWN_FIELD
        );
    }

    const BEGIN: &str = "<!-- support-table:begin (generated by src/commands/surface.rs) -->";
    const END: &str = "<!-- support-table:end -->";

    /// Fails when the README's table differs from the code's; `EMBEDDED_MONGO_BLESS=1` rewrites
    /// it instead.
    #[test]
    fn the_readme_support_table_is_the_one_generated_from_the_surface() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
        let readme = std::fs::read_to_string(path).unwrap();
        let (before, rest) = readme
            .split_once(BEGIN)
            .expect("the README has the begin marker");
        let (current, after) = rest.split_once(END).expect("the README has the end marker");
        let generated = format!("\n{}", support_table_markdown());
        if current == generated {
            return;
        }
        if std::env::var_os("EMBEDDED_MONGO_BLESS").is_some() {
            std::fs::write(path, format!("{before}{BEGIN}{generated}{END}{after}")).unwrap();
        } else {
            panic!(
                "README.md's support table is stale; rerun this test with EMBEDDED_MONGO_BLESS=1"
            );
        }
    }

    #[test]
    fn every_option_is_listed_once_per_command() {
        for surface in SURFACE {
            for (index, option) in surface.options.iter().enumerate() {
                assert!(
                    !surface.options[..index]
                        .iter()
                        .any(|other| other.name == option.name),
                    "{}.{} is listed twice",
                    surface.command,
                    option.name
                );
            }
        }
    }
}
