//! Behaviour tests for the storage engine through its public API: CRUD, indexes, durability
//! and recovery, transactions, TTL and the change log.

use std::io::Write;

use bson::{doc, Bson, Document};

use super::*;

fn memory_store() -> Store {
    Store::open(StoreOptions::default()).unwrap()
}

fn disk_store(dir: &std::path::Path) -> Store {
    Store::open(StoreOptions {
        data_dir: Some(dir.to_path_buf()),
    })
    .unwrap()
}

fn all(store: &Store, txn: Option<&mut Transaction>, collection: &str) -> Vec<Document> {
    store
        .find(txn, "db", collection, &FindRequest::default())
        .unwrap()
}

fn ids(documents: &[Document]) -> Vec<Bson> {
    documents
        .iter()
        .map(|d| d.get("_id").cloned().unwrap())
        .collect()
}

fn insert(store: &Store, collection: &str, documents: Vec<Document>) -> WriteOutcome {
    store.insert(None, "db", collection, documents, true)
}

#[test]
fn inserts_create_the_collection_and_keep_natural_order() {
    let store = memory_store();
    let outcome = insert(
        &store,
        "c",
        vec![doc! {"_id": "b"}, doc! {"_id": "a"}, doc! {"x": 1}],
    );
    assert_eq!(outcome.n, 3);
    assert!(outcome.errors.is_empty());
    let found = all(&store, None, "c");
    assert_eq!(ids(&found)[..2], [Bson::from("b"), Bson::from("a")]);
    assert!(matches!(found[2].get("_id"), Some(Bson::ObjectId(_))));
    assert_eq!(found[2].keys().next().unwrap(), "_id");
    let names: Vec<String> = store
        .list_collections("db")
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, vec!["c"]);
    assert_eq!(store.list_databases()[0].name, "db");
}

#[test]
fn explicit_create_of_an_existing_collection_is_namespace_exists() {
    let store = memory_store();
    store.create_collection(None, "db", "c", &doc! {}).unwrap();
    let error = store
        .create_collection(None, "db", "c", &doc! {})
        .unwrap_err();
    assert_eq!(error.code, 48);
    assert_eq!(error.message, "Collection db.c already exists.");
    let uuid = store.list_collections("db")[0].uuid;
    insert(&store, "c", vec![doc! {"_id": 1}]);
    assert_eq!(store.list_collections("db")[0].uuid, uuid);
}

#[test]
fn invalid_collection_options_are_rejected() {
    let store = memory_store();
    let error = store
        .create_collection(None, "db", "c", &doc! {"validationLevel": "sometimes"})
        .unwrap_err();
    assert_eq!(error.code, 2);
    assert!(store.list_collections("db").is_empty());
}

#[test]
fn duplicate_ids_in_an_ordered_batch_stop_at_the_first_error() {
    let store = memory_store();
    let outcome = insert(
        &store,
        "c",
        vec![doc! {"_id": 1}, doc! {"_id": 1}, doc! {"_id": 2}],
    );
    assert_eq!(outcome.n, 1);
    assert_eq!(outcome.errors.len(), 1);
    assert_eq!(outcome.errors[0].0, 1);
    assert_eq!(outcome.errors[0].1.code, 11000);
    assert_eq!(ids(&all(&store, None, "c")), vec![Bson::Int32(1)]);
}

#[test]
fn unordered_batches_report_every_error_and_insert_the_rest() {
    let store = memory_store();
    let outcome = store.insert(
        None,
        "db",
        "c",
        vec![
            doc! {"_id": 1},
            doc! {"_id": 1},
            doc! {"_id": [1]},
            doc! {"_id": 2},
        ],
        false,
    );
    assert_eq!(outcome.n, 2);
    let codes: Vec<(usize, i32)> = outcome.errors.iter().map(|(i, e)| (*i, e.code)).collect();
    assert_eq!(codes, vec![(1, 11000), (2, 53)]);
}

fn unique_email_store() -> Store {
    let store = memory_store();
    store
        .create_indexes(
            None,
            "app",
            "users",
            &[doc! {"key": {"email": 1}, "name": "email_1", "unique": true}],
        )
        .unwrap();
    store
}

#[test]
fn unique_index_violations_write_nothing_and_match_mongodb_errors() {
    let store = unique_email_store();
    let first = store.insert(
        None,
        "app",
        "users",
        vec![doc! {"_id": 1, "email": "a@b.c"}],
        true,
    );
    assert!(first.errors.is_empty());
    let second = store.insert(
        None,
        "app",
        "users",
        vec![doc! {"_id": 2, "email": "a@b.c"}],
        true,
    );
    let (_, error) = &second.errors[0];
    assert_eq!(error.code, 11000);
    assert_eq!(
        error.message,
        "E11000 duplicate key error collection: app.users index: email_1 dup key: { email: \"a@b.c\" }"
    );
    assert_eq!(
        error.extra.get_document("keyPattern").unwrap(),
        &doc! {"email": 1}
    );
    assert_eq!(
        error.extra.get_document("keyValue").unwrap(),
        &doc! {"email": "a@b.c"}
    );
    let found = store
        .find(None, "app", "users", &FindRequest::default())
        .unwrap();
    assert_eq!(found, vec![doc! {"_id": 1, "email": "a@b.c"}]);
}

#[test]
fn unique_multikey_indexes_allow_repeats_within_one_document_only() {
    let store = memory_store();
    store
        .create_indexes(
            None,
            "db",
            "c",
            &[doc! {"key": {"tags": 1}, "name": "tags_1", "unique": true}],
        )
        .unwrap();
    assert!(
        insert(&store, "c", vec![doc! {"_id": 1, "tags": ["a", "a", "b"]}])
            .errors
            .is_empty()
    );
    let outcome = insert(&store, "c", vec![doc! {"_id": 2, "tags": ["c", "b"]}]);
    assert_eq!(outcome.errors[0].1.code, 11000);
    assert_eq!(
        outcome.errors[0].1.extra.get_document("keyValue").unwrap(),
        &doc! {"tags": "b"}
    );
}

#[test]
fn missing_fields_collide_in_unique_indexes_unless_sparse() {
    let store = unique_email_store();
    store.insert(None, "app", "users", vec![doc! {"_id": 1}], true);
    let outcome = store.insert(None, "app", "users", vec![doc! {"_id": 2}], true);
    assert_eq!(
        outcome.errors[0].1.message,
        "E11000 duplicate key error collection: app.users index: email_1 dup key: { email: null }"
    );

    let sparse = memory_store();
    sparse
        .create_indexes(
            None,
            "db",
            "c",
            &[doc! {"key": {"email": 1}, "name": "email_1", "unique": true, "sparse": true}],
        )
        .unwrap();
    let outcome = insert(
        &sparse,
        "c",
        vec![
            doc! {"_id": 1},
            doc! {"_id": 2},
            doc! {"_id": 3, "email": "x"},
        ],
    );
    assert!(outcome.errors.is_empty());
    let outcome = insert(&sparse, "c", vec![doc! {"_id": 4, "email": "x"}]);
    assert_eq!(outcome.errors[0].1.code, 11000);
}

#[test]
fn unique_index_over_existing_duplicates_fails_and_is_not_created() {
    let store = memory_store();
    insert(
        &store,
        "c",
        vec![doc! {"_id": 1, "a": 5}, doc! {"_id": 2, "a": 5.0}],
    );
    let error = store
        .create_indexes(
            None,
            "db",
            "c",
            &[doc! {"key": {"a": 1}, "name": "a_1", "unique": true}],
        )
        .unwrap_err();
    assert_eq!(error.code, 11000);
    assert_eq!(store.list_indexes("db", "c").unwrap().len(), 1);
}

#[test]
fn index_specs_conflict_like_mongodb() {
    let store = memory_store();
    let outcome = store
        .create_indexes(None, "db", "c", &[doc! {"key": {"a": 1, "b": -1}}])
        .unwrap();
    assert_eq!(outcome.num_indexes_before, 1);
    assert_eq!(outcome.num_indexes_after, 2);
    assert!(outcome.created_collection_automatically);
    assert_eq!(outcome.note, None);

    let again = store
        .create_indexes(
            None,
            "db",
            "c",
            &[doc! {"key": {"a": 1, "b": -1}, "name": "a_1_b_-1"}],
        )
        .unwrap();
    assert_eq!(again.note.as_deref(), Some("all indexes already exist"));
    assert!(!again.created_collection_automatically);
    assert_eq!(again.num_indexes_after, 2);

    let same_name = store
        .create_indexes(
            None,
            "db",
            "c",
            &[doc! {"key": {"z": 1}, "name": "a_1_b_-1"}],
        )
        .unwrap_err();
    assert_eq!(same_name.code, 86);
    assert_eq!(same_name.code_name(), "IndexKeySpecsConflict");

    let other_options = store
        .create_indexes(
            None,
            "db",
            "c",
            &[doc! {"key": {"a": 1, "b": -1}, "name": "a_1_b_-1", "unique": true}],
        )
        .unwrap_err();
    assert_eq!(other_options.code, 85);
    let other_name = store
        .create_indexes(
            None,
            "db",
            "c",
            &[doc! {"key": {"a": 1, "b": -1}, "name": "other"}],
        )
        .unwrap_err();
    assert_eq!(other_name.code, 85);
    assert_eq!(
        other_name.message,
        "Index already exists with a different name: a_1_b_-1"
    );
}

#[test]
fn list_and_drop_indexes() {
    let store = memory_store();
    store
        .create_indexes(
            None,
            "db",
            "c",
            &[
                doc! {"key": {"email": 1}, "name": "email_1", "unique": true},
                doc! {"key": {"at": 1}, "name": "at_1", "expireAfterSeconds": 3600},
            ],
        )
        .unwrap();
    assert_eq!(
        store.list_indexes("db", "c").unwrap(),
        vec![
            doc! {"v": 2, "key": {"_id": 1}, "name": "_id_"},
            doc! {"v": 2, "key": {"email": 1}, "name": "email_1", "unique": true},
            doc! {"v": 2, "key": {"at": 1}, "name": "at_1", "expireAfterSeconds": 3600},
        ]
    );
    assert_eq!(store.list_indexes("db", "missing").unwrap_err().code, 26);
    let id = store
        .drop_indexes("db", "c", &Bson::from("_id_"))
        .unwrap_err();
    assert_eq!(
        (id.code, id.message.as_str()),
        (72, "cannot drop _id index")
    );
    assert_eq!(
        store
            .drop_indexes("db", "c", &Bson::from("nope"))
            .unwrap_err()
            .code,
        27
    );
    assert_eq!(
        store
            .drop_indexes("db", "c", &Bson::Document(doc! {"email": 1}))
            .unwrap(),
        3
    );
    assert_eq!(store.drop_indexes("db", "c", &Bson::from("*")).unwrap(), 2);
    assert_eq!(store.list_indexes("db", "c").unwrap().len(), 1);
}

#[test]
fn coll_mod_changes_ttl_and_reports_old_and_new() {
    let store = memory_store();
    store
        .create_indexes(
            None,
            "db",
            "c",
            &[doc! {"key": {"at": 1}, "expireAfterSeconds": 60}],
        )
        .unwrap();
    let reply = store
        .coll_mod(
            "db",
            "c",
            &doc! {"index": {"keyPattern": {"at": 1}, "expireAfterSeconds": 120}},
        )
        .unwrap();
    assert_eq!(
        reply,
        doc! {"expireAfterSeconds_old": 60_i64, "expireAfterSeconds_new": 120_i64}
    );
    assert_eq!(
        store.list_indexes("db", "c").unwrap()[1]
            .get_i32("expireAfterSeconds")
            .unwrap(),
        120
    );
    assert_eq!(store.coll_mod("db", "nope", &doc! {}).unwrap_err().code, 26);
}

#[test]
fn ttl_pass_removes_only_expired_dates() {
    let store = memory_store();
    store
        .create_indexes(
            None,
            "db",
            "s",
            &[doc! {"key": {"at": 1}, "expireAfterSeconds": 10}],
        )
        .unwrap();
    let now = bson::DateTime::now().timestamp_millis();
    let old = bson::DateTime::from_millis(now - 60_000);
    let fresh = bson::DateTime::from_millis(now + 60_000);
    insert(
        &store,
        "s",
        vec![
            doc! {"_id": 1, "at": old},
            doc! {"_id": 2, "at": fresh},
            doc! {"_id": 3, "at": [fresh, old]},
            doc! {"_id": 4, "at": "not a date"},
            doc! {"_id": 5},
        ],
    );
    assert_eq!(store.expire_ttl_documents_now(), 2);
    assert_eq!(
        ids(&all(&store, None, "s")),
        vec![Bson::Int32(2), Bson::Int32(4), Bson::Int32(5)]
    );
    assert_eq!(store.expire_ttl_documents_now(), 0);
}

#[test]
fn drops_remove_collections_and_databases() {
    let store = memory_store();
    insert(&store, "a", vec![doc! {"_id": 1}]);
    insert(&store, "b", vec![doc! {"_id": 1}]);
    assert!(store.drop_collection("db", "a").unwrap());
    assert!(!store.drop_collection("db", "a").unwrap());
    store.drop_database("db").unwrap();
    assert!(store.list_databases().is_empty());
    assert!(all(&store, None, "b").is_empty());
}

#[test]
fn count_and_distinct_over_all_documents() {
    let store = memory_store();
    insert(
        &store,
        "c",
        vec![
            doc! {"_id": 1, "tags": ["a", "b"]},
            doc! {"_id": 2, "tags": "a"},
            doc! {"_id": 3, "tags": 1.0},
            doc! {"_id": 4, "tags": 1},
            doc! {"_id": 5},
        ],
    );
    assert_eq!(
        store
            .count(
                None,
                "db",
                "c",
                &FindRequest {
                    skip: 1,
                    limit: 0,
                    ..FindRequest::default()
                }
            )
            .unwrap(),
        4
    );
    assert_eq!(
        store
            .count(
                None,
                "db",
                "c",
                &FindRequest {
                    skip: 1,
                    limit: 2,
                    ..FindRequest::default()
                }
            )
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .count(None, "db", "missing", &FindRequest::default())
            .unwrap(),
        0
    );
    let values = store
        .distinct(None, "db", "c", "tags", &doc! {}, None)
        .unwrap();
    assert_eq!(
        values,
        vec![Bson::Double(1.0), Bson::from("a"), Bson::from("b")]
    );
}

#[test]
fn find_applies_skip_and_limit_in_natural_order() {
    let store = memory_store();
    insert(&store, "c", (0..10).map(|i| doc! {"_id": i}).collect());
    let found = store
        .find(
            None,
            "db",
            "c",
            &FindRequest {
                skip: 3,
                limit: 2,
                ..FindRequest::default()
            },
        )
        .unwrap();
    assert_eq!(ids(&found), vec![Bson::Int32(3), Bson::Int32(4)]);
}

#[test]
fn delete_with_limit_one_removes_a_single_document() {
    let store = memory_store();
    insert(&store, "c", (0..3).map(|i| doc! {"_id": i}).collect());
    let outcome = store.delete(
        None,
        "db",
        "c",
        &[DeleteStatement {
            filter: doc! {},
            limit: 1,
            variables: None,
            collation: None,
        }],
        true,
    );
    assert_eq!(outcome.n, 1);
    assert_eq!(
        ids(&all(&store, None, "c")),
        vec![Bson::Int32(1), Bson::Int32(2)]
    );
    let outcome = store.delete(
        None,
        "db",
        "c",
        &[DeleteStatement {
            filter: doc! {},
            limit: 0,
            variables: None,
            collation: None,
        }],
        true,
    );
    assert_eq!(outcome.n, 2);
}

#[test]
fn find_and_modify_remove_returns_the_removed_document() {
    let store = memory_store();
    insert(&store, "c", vec![doc! {"_id": 1, "a": 1}]);
    let outcome = store
        .find_and_modify(
            None,
            "db",
            "c",
            &FindAndModifyRequest {
                remove: true,
                ..FindAndModifyRequest::default()
            },
        )
        .unwrap();
    assert_eq!(outcome.value, Some(doc! {"_id": 1, "a": 1}));
    assert_eq!(outcome.n, 1);
    let none = store
        .find_and_modify(
            None,
            "db",
            "c",
            &FindAndModifyRequest {
                remove: true,
                ..FindAndModifyRequest::default()
            },
        )
        .unwrap();
    assert_eq!((none.value, none.n), (None, 0));
}

#[test]
fn change_events_record_inserts_deletes_and_drops_in_order() {
    let store = memory_store();
    let start = store.cluster_time();
    insert(&store, "c", vec![doc! {"_id": 1, "a": 1}]);
    store.delete(
        None,
        "db",
        "c",
        &[DeleteStatement {
            filter: doc! {},
            limit: 0,
            variables: None,
            collation: None,
        }],
        true,
    );
    store.drop_collection("db", "c").unwrap();
    let events = store.change_events_since(None, 100).unwrap();
    let kinds: Vec<ChangeOperation> = events.iter().map(|e| e.operation).collect();
    assert_eq!(
        kinds,
        vec![
            // The implicit creation is an expanded event, which only some streams show.
            ChangeOperation::Create,
            ChangeOperation::Insert,
            ChangeOperation::Delete,
            ChangeOperation::Drop
        ]
    );
    assert_eq!(
        events.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert_eq!(
        events[1].full_document.as_deref(),
        Some(&doc! {"_id": 1, "a": 1})
    );
    assert_eq!(events[2].document_key, Some(doc! {"_id": 1}));
    assert!(events[0].cluster_time > start);
    assert!(events[2].cluster_time > events[1].cluster_time);
    assert_eq!(store.latest_change_sequence(), 4);
    assert_eq!(store.change_events_since(Some(2), 100).unwrap().len(), 2);
}

#[test]
fn transactions_read_their_snapshot_and_commit_atomically() {
    let store = memory_store();
    insert(&store, "c", vec![doc! {"_id": 1}]);
    let mut txn = store.begin_transaction();
    let outcome = store.insert(Some(&mut txn), "db", "c", vec![doc! {"_id": 2}], true);
    assert_eq!(outcome.n, 1);
    insert(&store, "c", vec![doc! {"_id": 3}]);
    assert_eq!(
        ids(&all(&store, Some(&mut txn), "c")),
        vec![Bson::Int32(1), Bson::Int32(2)]
    );
    assert_eq!(
        ids(&all(&store, None, "c")),
        vec![Bson::Int32(1), Bson::Int32(3)]
    );
    let before = store.latest_change_sequence();
    store.commit_transaction(txn).unwrap();
    assert_eq!(
        ids(&all(&store, None, "c")),
        vec![Bson::Int32(1), Bson::Int32(3), Bson::Int32(2)]
    );
    let events = store.change_events_since(Some(before), 10).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].document_key, Some(doc! {"_id": 2}));
}

#[test]
fn dropping_a_transaction_aborts_it() {
    let store = memory_store();
    let mut txn = store.begin_transaction();
    store.insert(Some(&mut txn), "db", "c", vec![doc! {"_id": 1}], true);
    drop(txn);
    assert!(all(&store, None, "c").is_empty());
    assert!(store.list_collections("db").is_empty());
    assert_eq!(store.latest_change_sequence(), 0);
}

#[test]
fn concurrent_inserts_of_one_id_conflict_at_commit() {
    let store = memory_store();
    let mut first = store.begin_transaction();
    let mut second = store.begin_transaction();
    store.insert(
        Some(&mut first),
        "db",
        "c",
        vec![doc! {"_id": 1, "by": "first"}],
        true,
    );
    store.insert(
        Some(&mut second),
        "db",
        "c",
        vec![doc! {"_id": 1, "by": "second"}],
        true,
    );
    store.commit_transaction(first).unwrap();
    let error = store.commit_transaction(second).unwrap_err();
    assert_eq!(error.code, 112);
    assert_eq!(error.code_name(), "WriteConflict");
    assert_eq!(error.labels, vec!["TransientTransactionError".to_string()]);
    assert_eq!(all(&store, None, "c"), vec![doc! {"_id": 1, "by": "first"}]);
}

#[test]
fn concurrent_unique_keys_conflict_at_commit() {
    let store = unique_email_store();
    let mut first = store.begin_transaction();
    let mut second = store.begin_transaction();
    store.insert(
        Some(&mut first),
        "app",
        "users",
        vec![doc! {"_id": 1, "email": "x"}],
        true,
    );
    store.insert(
        Some(&mut second),
        "app",
        "users",
        vec![doc! {"_id": 2, "email": "x"}],
        true,
    );
    store.commit_transaction(first).unwrap();
    assert_eq!(store.commit_transaction(second).unwrap_err().code, 112);
    assert_eq!(
        store
            .find(None, "app", "users", &FindRequest::default())
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn writing_a_document_changed_after_the_snapshot_conflicts_immediately() {
    let store = memory_store();
    insert(&store, "c", vec![doc! {"_id": 1}]);
    let mut txn = store.begin_transaction();
    store.delete(
        None,
        "db",
        "c",
        &[DeleteStatement {
            filter: doc! {},
            limit: 0,
            variables: None,
            collation: None,
        }],
        true,
    );
    let outcome = store.delete(
        Some(&mut txn),
        "db",
        "c",
        &[DeleteStatement {
            filter: doc! {},
            limit: 1,
            variables: None,
            collation: None,
        }],
        true,
    );
    assert_eq!(outcome.errors[0].1.code, 112);
    assert!(outcome.errors[0]
        .1
        .labels
        .contains(&"TransientTransactionError".to_string()));
}

#[test]
fn acknowledged_writes_survive_reopening_and_a_torn_tail_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = disk_store(dir.path());
        store
            .create_indexes(
                None,
                "db",
                "c",
                &[doc! {"key": {"email": 1}, "name": "email_1", "unique": true}],
            )
            .unwrap();
        insert(
            &store,
            "c",
            vec![doc! {"_id": 1, "email": "a"}, doc! {"_id": 2, "email": "b"}],
        );
        store.delete(
            None,
            "db",
            "c",
            &[DeleteStatement {
                filter: doc! {},
                limit: 1,
                variables: None,
                collation: None,
            }],
            true,
        );
        insert(&store, "other", vec![doc! {"_id": "x"}]);
        store.drop_collection("db", "other").unwrap();
    }
    let journal = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .find(|path| path.to_string_lossy().contains("journal-"))
        .unwrap();
    let mut handle = std::fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .unwrap();
    handle.write_all(&[200, 0, 0, 0, 1, 2, 3, 4, 5, 6]).unwrap();
    drop(handle);
    {
        let store = disk_store(dir.path());
        assert_eq!(all(&store, None, "c"), vec![doc! {"_id": 2, "email": "b"}]);
        assert_eq!(store.list_collections("db").len(), 1);
        assert_eq!(store.list_indexes("db", "c").unwrap().len(), 2);
        let duplicate = insert(&store, "c", vec![doc! {"_id": 3, "email": "b"}]);
        assert_eq!(duplicate.errors[0].1.code, 11000);
        insert(&store, "c", vec![doc! {"_id": 4, "email": "d"}]);
        // Six document events and three schema events (two creations, one index).
        assert_eq!(store.latest_change_sequence(), 9);
    }
    let store = disk_store(dir.path());
    assert_eq!(
        ids(&all(&store, None, "c")),
        vec![Bson::Int32(2), Bson::Int32(4)]
    );
    assert_eq!(store.latest_change_sequence(), 9);
    insert(&store, "c", vec![doc! {"_id": 5}]);
    assert_eq!(store.latest_change_sequence(), 10);
}

#[test]
fn a_data_directory_in_use_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _store = disk_store(dir.path());
    let error = Store::open(StoreOptions {
        data_dir: Some(dir.path().to_path_buf()),
    })
    .err()
    .unwrap();
    assert_eq!(error.code, 98);
    assert!(error.message.contains("Unable to lock the data directory"));
}

#[test]
fn concurrent_writers_are_all_durable() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = disk_store(dir.path());
        let threads: Vec<_> = (0..4)
            .map(|thread| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for i in 0..25 {
                        let outcome = insert(&store, "c", vec![doc! {"_id": thread * 100 + i}]);
                        assert!(outcome.errors.is_empty());
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        store.shutdown();
    }
    let store = disk_store(dir.path());
    assert_eq!(
        store
            .count(
                None,
                "db",
                "c",
                &FindRequest {
                    skip: 0,
                    limit: 0,
                    ..FindRequest::default()
                }
            )
            .unwrap(),
        100
    );
}

#[test]
fn compaction_writes_a_snapshot_that_recovery_uses() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = disk_store(dir.path());
        store
            .create_indexes(
                None,
                "db",
                "c",
                &[doc! {"key": {"n": 1}, "name": "n_1", "unique": true}],
            )
            .unwrap();
        insert(
            &store,
            "c",
            (0..2500).map(|i| doc! {"_id": i, "n": i}).collect(),
        );
        store.compact().unwrap();
        insert(&store, "c", vec![doc! {"_id": 9999, "n": -1}]);
    }
    let journals = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("journal-"))
        .count();
    assert_eq!(journals, 1);
    assert!(dir.path().join("snapshot.bin").exists());
    let store = disk_store(dir.path());
    assert_eq!(
        store
            .count(
                None,
                "db",
                "c",
                &FindRequest {
                    skip: 0,
                    limit: 0,
                    ..FindRequest::default()
                }
            )
            .unwrap(),
        2501
    );
    assert_eq!(store.list_indexes("db", "c").unwrap().len(), 2);
    let duplicate = insert(&store, "c", vec![doc! {"_id": 10_000, "n": 7}]);
    assert_eq!(duplicate.errors[0].1.code, 11000);
}

#[test]
fn small_compaction_thresholds_compact_automatically() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open_tuned(
            StoreOptions {
                data_dir: Some(dir.path().to_path_buf()),
            },
            StoreTuning {
                compaction_threshold: 1024,
                ..StoreTuning::default()
            },
        )
        .unwrap();
        for i in 0..200 {
            insert(&store, "c", vec![doc! {"_id": i, "pad": "x".repeat(50)}]);
        }
        store.shutdown();
    }
    let store = disk_store(dir.path());
    assert_eq!(
        store
            .count(
                None,
                "db",
                "c",
                &FindRequest {
                    skip: 0,
                    limit: 0,
                    ..FindRequest::default()
                }
            )
            .unwrap(),
        200
    );
}

#[test]
fn transactions_are_journaled_and_recovered() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = disk_store(dir.path());
        let mut txn = store.begin_transaction();
        store.insert(
            Some(&mut txn),
            "db",
            "c",
            vec![doc! {"_id": 1}, doc! {"_id": 2}],
            true,
        );
        store.commit_transaction(txn).unwrap();
    }
    let store = disk_store(dir.path());
    assert_eq!(
        ids(&all(&store, None, "c")),
        vec![Bson::Int32(1), Bson::Int32(2)]
    );
}

fn update(
    store: &Store,
    txn: Option<&mut Transaction>,
    filter: Document,
    update: Document,
    multi: bool,
    upsert: bool,
) -> WriteOutcome {
    store.update(
        txn,
        "db",
        "c",
        &[UpdateStatement {
            filter,
            update: Bson::Document(update),
            multi,
            upsert,
            array_filters: Vec::new(),
            variables: None,
            collation: None,
        }],
        true,
    )
}

fn find(store: &Store, filter: Document) -> Vec<Document> {
    store
        .find(
            None,
            "db",
            "c",
            &FindRequest {
                filter,
                ..FindRequest::default()
            },
        )
        .unwrap()
}

#[test]
fn indexed_lookups_examine_only_the_matches() {
    let store = memory_store();
    store
        .create_indexes(
            None,
            "db",
            "c",
            &[
                doc! {"key": {"email": 1}, "name": "email_1", "unique": true},
                doc! {"key": {"group": 1, "n": -1}, "name": "group_1_n_-1"},
            ],
        )
        .unwrap();
    let documents: Vec<Document> = (0..10_000)
        .map(|i| doc! {"_id": i, "email": format!("u{i}@x.io"), "group": i % 1000, "n": i})
        .collect();
    assert_eq!(insert(&store, "c", documents).n, 10_000);

    let examined = |filter: Document, expected: usize| {
        let before = store.documents_examined();
        let found = find(&store, filter.clone());
        assert_eq!(found.len(), expected, "{filter}");
        store.documents_examined() - before
    };
    assert_eq!(examined(doc! {"_id": 5000}, 1), 1);
    assert_eq!(examined(doc! {"_id": {"$in": [1, 2, 3, 99_999]}}, 3), 3);
    assert_eq!(examined(doc! {"email": "u42@x.io"}, 1), 1);
    assert_eq!(
        examined(
            doc! {"email": {"$in": ["u1@x.io", "u2@x.io"]}, "n": {"$gt": 1}},
            1
        ),
        2
    );
    assert_eq!(examined(doc! {"group": {"$in": [7, 8]}}, 20), 20);
    assert_eq!(examined(doc! {"_id": {"$gte": 9990}}, 10), 10);
    assert_eq!(examined(doc! {"n": 7}, 1), 10_000);
}

#[test]
fn a_lookup_on_an_indexed_field_examines_only_the_matches() {
    let store = memory_store();
    let people: Vec<Document> = (0..10_000)
        .map(|i| doc! {"_id": i, "name": format!("person {i}"), "team": i % 100})
        .collect();
    assert_eq!(insert(&store, "people", people).n, 10_000);
    let orders = vec![
        doc! {"_id": 1, "buyer": 42},
        doc! {"_id": 2, "buyer": [7, 9_999]},
        doc! {"_id": 3},
    ];
    insert(&store, "orders", orders);
    let pipeline = [
        Bson::Document(doc! {"$match": {"_id": {"$in": [1, 2]}}}),
        Bson::Document(doc! {"$lookup": {
            "from": "people", "localField": "buyer", "foreignField": "_id", "as": "people",
        }}),
        Bson::Document(doc! {"$project": {"people.name": 1}}),
    ];
    let before = store.documents_examined();
    let joined = store
        .aggregate(None, "db", "orders", &pipeline, &Variables::new())
        .unwrap();
    let examined = store.documents_examined() - before;
    assert_eq!(
        joined,
        vec![
            doc! {"_id": 1, "people": [{"name": "person 42"}]},
            doc! {"_id": 2, "people": [{"name": "person 7"}, {"name": "person 9999"}]},
        ]
    );
    // Two orders, then one person for the first and two for the second: not 10,000 people.
    assert_eq!(examined, 2 + 1 + 2);
    // A missing local field matches foreign documents without the field (none here): that
    // reads the collection, as equality on null must.
    let missing = store
        .aggregate(
            None,
            "db",
            "orders",
            &[
                Bson::Document(doc! {"$match": {"_id": 3}}),
                Bson::Document(doc! {"$lookup": {
                    "from": "people", "localField": "buyer", "foreignField": "_id", "as": "people",
                }}),
            ],
            &Variables::new(),
        )
        .unwrap();
    assert_eq!(missing, vec![doc! {"_id": 3, "people": []}]);
}

#[test]
fn multikey_ranges_find_documents_whose_elements_straddle_the_bounds() {
    let store = memory_store();
    store
        .create_indexes(None, "db", "c", &[doc! {"key": {"a": 1}}])
        .unwrap();
    insert(
        &store,
        "c",
        vec![doc! {"_id": 1, "a": [1, 10]}, doc! {"_id": 2, "a": 20}],
    );
    let found = find(&store, doc! {"a": {"$gt": 5, "$lt": 8}});
    assert_eq!(ids(&found), vec![Bson::Int32(1)]);
}

#[test]
fn updates_count_matches_and_real_modifications() {
    let store = memory_store();
    insert(
        &store,
        "c",
        vec![
            doc! {"_id": 1, "a": 1},
            doc! {"_id": 2, "a": 2},
            doc! {"_id": 3, "a": 2},
        ],
    );
    let before = store.latest_change_sequence();
    let outcome = update(&store, None, doc! {}, doc! {"$set": {"a": 2}}, true, false);
    assert_eq!((outcome.n, outcome.n_modified), (3, 1));
    let events = store.change_events_since(Some(before), 10).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].operation, ChangeOperation::Update);
    assert_eq!(
        events[0].update_description,
        Some(doc! {"updatedFields": {"a": 2}, "removedFields": [], "truncatedArrays": []})
    );
    let single = update(
        &store,
        None,
        doc! {"a": 2},
        doc! {"$inc": {"a": 1}},
        false,
        false,
    );
    assert_eq!((single.n, single.n_modified), (1, 1));
    assert_eq!(find(&store, doc! {"a": 3}).len(), 1);
}

#[test]
fn upserts_seed_from_the_filter() {
    let store = memory_store();
    let outcome = update(
        &store,
        None,
        doc! {"_id": 7, "kind": "x"},
        doc! {"$set": {"n": 1}, "$setOnInsert": {"created": true}},
        false,
        true,
    );
    assert_eq!((outcome.n, outcome.n_modified), (1, 0));
    assert_eq!(outcome.upserted, vec![(0, Bson::Int32(7))]);
    assert_eq!(
        find(&store, doc! {"_id": 7}),
        vec![doc! {"_id": 7, "kind": "x", "n": 1, "created": true}]
    );
    let replacement = update(
        &store,
        None,
        doc! {"_id": 8},
        doc! {"name": "replaced"},
        false,
        true,
    );
    assert_eq!(replacement.upserted, vec![(0, Bson::Int32(8))]);
    assert_eq!(
        find(&store, doc! {"_id": 8}),
        vec![doc! {"_id": 8, "name": "replaced"}]
    );
}

#[test]
fn replacements_keep_the_id_and_cannot_change_it() {
    let store = memory_store();
    insert(&store, "c", vec![doc! {"_id": 1, "a": 1}]);
    let outcome = update(&store, None, doc! {"_id": 1}, doc! {"b": 2}, false, false);
    assert_eq!(outcome.n_modified, 1);
    assert_eq!(find(&store, doc! {}), vec![doc! {"_id": 1, "b": 2}]);
    let changed = update(
        &store,
        None,
        doc! {"_id": 1},
        doc! {"_id": 2, "b": 2},
        false,
        false,
    );
    assert_eq!(changed.errors[0].1.code, 66);
    assert_eq!(find(&store, doc! {}), vec![doc! {"_id": 1, "b": 2}]);
}

#[test]
fn updates_that_violate_a_unique_index_change_nothing() {
    let store = memory_store();
    store
        .create_indexes(
            None,
            "db",
            "c",
            &[doc! {"key": {"email": 1}, "unique": true}],
        )
        .unwrap();
    insert(
        &store,
        "c",
        vec![doc! {"_id": 1, "email": "a"}, doc! {"_id": 2, "email": "b"}],
    );
    let outcome = update(
        &store,
        None,
        doc! {"_id": 2},
        doc! {"$set": {"email": "a"}},
        false,
        false,
    );
    assert_eq!(outcome.errors[0].1.code, 11000);
    assert_eq!(
        find(&store, doc! {"_id": 2}),
        vec![doc! {"_id": 2, "email": "b"}]
    );
}

#[test]
fn partial_unique_indexes_only_constrain_matching_documents() {
    let store = memory_store();
    store
        .create_indexes(None, "db",
            "c",
            &[doc! {"key": {"email": 1}, "unique": true, "partialFilterExpression": {"active": true}}],
        )
        .unwrap();
    let outcome = insert(
        &store,
        "c",
        vec![
            doc! {"_id": 1, "email": "a", "active": false},
            doc! {"_id": 2, "email": "a", "active": false},
            doc! {"_id": 3, "email": "a", "active": true},
        ],
    );
    assert!(outcome.errors.is_empty());
    let duplicate = insert(
        &store,
        "c",
        vec![doc! {"_id": 4, "email": "a", "active": true}],
    );
    assert_eq!(duplicate.errors[0].1.code, 11000);
    assert_eq!(find(&store, doc! {"email": "a"}).len(), 3);
}

#[test]
fn validators_reject_invalid_documents_with_err_info() {
    let store = memory_store();
    store
        .create_collection(
            None,
            "db",
            "c",
            &doc! {"validator": {"$jsonSchema": {"bsonType": "object", "required": ["name"]}}},
        )
        .unwrap();
    let outcome = insert(&store, "c", vec![doc! {"_id": 1, "age": 3}]);
    let error = &outcome.errors[0].1;
    assert_eq!(error.code, 121);
    assert_eq!(error.message, "Document failed validation");
    let info = error.extra.get_document("errInfo").unwrap();
    assert_eq!(info.get("failingDocumentId"), Some(&Bson::Int32(1)));
    assert!(info.get_document("details").is_ok());
    assert!(find(&store, doc! {}).is_empty());
    assert_eq!(
        store.list_collections("db")[0].options,
        doc! {"validator": {"$jsonSchema": {"bsonType": "object", "required": ["name"]}}}
    );
}

#[test]
fn moderate_validation_lets_invalid_documents_be_updated_and_warn_accepts() {
    let store = memory_store();
    insert(
        &store,
        "c",
        vec![doc! {"_id": 1}, doc! {"_id": 2, "name": "ok"}],
    );
    store
        .coll_mod(
            "db",
            "c",
            &doc! {"validator": {"name": {"$type": "string"}}, "validationLevel": "moderate"},
        )
        .unwrap();
    let legacy = update(
        &store,
        None,
        doc! {"_id": 1},
        doc! {"$set": {"x": 1}},
        false,
        false,
    );
    assert!(legacy.errors.is_empty());
    let valid = update(
        &store,
        None,
        doc! {"_id": 2},
        doc! {"$set": {"name": 5}},
        false,
        false,
    );
    assert_eq!(valid.errors[0].1.code, 121);
    store
        .coll_mod("db", "c", &doc! {"validationAction": "warn"})
        .unwrap();
    let warned = update(
        &store,
        None,
        doc! {"_id": 2},
        doc! {"$set": {"name": 5}},
        false,
        false,
    );
    assert!(warned.errors.is_empty());
    assert_eq!(
        find(&store, doc! {"_id": 2}),
        vec![doc! {"_id": 2, "name": 5}]
    );
}

#[test]
fn find_and_modify_returns_new_or_old_and_upserts() {
    let store = memory_store();
    insert(&store, "c", vec![doc! {"_id": 1, "n": 1}]);
    let request = FindAndModifyRequest {
        filter: doc! {"_id": 1},
        update: Some(Bson::Document(doc! {"$inc": {"n": 1}})),
        return_new: true,
        ..FindAndModifyRequest::default()
    };
    let outcome = store.find_and_modify(None, "db", "c", &request).unwrap();
    assert_eq!(outcome.value, Some(doc! {"_id": 1, "n": 2}));
    assert!(outcome.updated_existing);
    let old = store
        .find_and_modify(
            None,
            "db",
            "c",
            &FindAndModifyRequest {
                return_new: false,
                ..request.clone()
            },
        )
        .unwrap();
    assert_eq!(old.value, Some(doc! {"_id": 1, "n": 2}));
    let upserted = store
        .find_and_modify(
            None,
            "db",
            "c",
            &FindAndModifyRequest {
                filter: doc! {"_id": 9},
                upsert: true,
                fields: Some(doc! {"n": 1, "_id": 0}),
                ..request
            },
        )
        .unwrap();
    assert_eq!(upserted.value, Some(doc! {"n": 1}));
    assert_eq!(upserted.upserted, Some(Bson::Int32(9)));
    assert!(!upserted.updated_existing);
}

#[test]
fn a_document_updated_outside_a_transaction_conflicts_at_commit() {
    let store = memory_store();
    insert(&store, "c", vec![doc! {"_id": 1, "n": 0}]);
    let mut txn = store.begin_transaction();
    let inside = update(
        &store,
        Some(&mut txn),
        doc! {"_id": 1},
        doc! {"$inc": {"n": 1}},
        false,
        false,
    );
    assert_eq!(inside.n_modified, 1);
    assert_eq!(find(&store, doc! {"_id": 1}), vec![doc! {"_id": 1, "n": 0}]);
    update(
        &store,
        None,
        doc! {"_id": 1},
        doc! {"$inc": {"n": 10}},
        false,
        false,
    );
    let error = store.commit_transaction(txn).unwrap_err();
    assert_eq!(error.code, 112);
    assert_eq!(
        find(&store, doc! {"_id": 1}),
        vec![doc! {"_id": 1, "n": 10}]
    );
}

#[test]
fn bypassing_validation_accepts_invalid_documents() {
    let store = memory_store();
    store
        .create_collection(
            None,
            "db",
            "c",
            &doc! {"validator": {"name": {"$exists": true}}},
        )
        .unwrap();
    let outcome = store.insert_with(
        None,
        "db",
        "c",
        vec![doc! {"_id": 1}],
        WriteOptions {
            ordered: true,
            bypass_document_validation: true,
        },
    );
    assert!(outcome.errors.is_empty());
    let checked = update(
        &store,
        None,
        doc! {"_id": 1},
        doc! {"$set": {"x": 1}},
        false,
        false,
    );
    assert_eq!(checked.errors[0].1.code, 121);
    assert_eq!(find(&store, doc! {}), vec![doc! {"_id": 1}]);
}

#[test]
fn find_sorts_before_skip_and_limit() {
    let store = memory_store();
    insert(
        &store,
        "c",
        (0..5).map(|i| doc! {"_id": i, "n": i % 3}).collect(),
    );
    let found = store
        .find(
            None,
            "db",
            "c",
            &FindRequest {
                sort: Some(doc! {"n": -1, "_id": 1}),
                skip: 1,
                limit: 2,
                ..FindRequest::default()
            },
        )
        .unwrap();
    assert_eq!(ids(&found), vec![Bson::Int32(1), Bson::Int32(4)]);
}

#[test]
fn text_search_sorts_and_projects_by_score() {
    let store = memory_store();
    store
        .create_indexes(None, "db", "c", &[doc! {"key": {"subject": "text"}}])
        .unwrap();
    insert(
        &store,
        "c",
        vec![
            doc! {"_id": 1, "subject": "tea and more tea and cake"},
            doc! {"_id": 2, "subject": "tea"},
            doc! {"_id": 3, "subject": "cake"},
        ],
    );
    let found = store
        .find(
            None,
            "db",
            "c",
            &FindRequest {
                filter: doc! {"$text": {"$search": "tea"}},
                sort: Some(doc! {"score": {"$meta": "textScore"}, "_id": 1}),
                projection: Some(doc! {"score": {"$meta": "textScore"}, "_id": 1}),
                ..FindRequest::default()
            },
        )
        .unwrap();
    assert_eq!(found.len(), 2);
    let scores: Vec<f64> = found.iter().map(|d| d.get_f64("score").unwrap()).collect();
    assert!(scores[0] >= scores[1], "{scores:?}");
    assert!(scores.iter().all(|score| *score > 0.0));
}

#[test]
fn a_renamed_collection_keeps_its_name_documents_and_indexes_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = disk_store(dir.path());
        store
            .create_indexes(
                None,
                "db",
                "old",
                &[doc! {"key": {"email": 1}, "name": "email_1", "unique": true}],
            )
            .unwrap();
        insert(&store, "old", vec![doc! {"_id": 1, "email": "a"}]);
        insert(&store, "target", vec![doc! {"_id": "gone"}]);
        store
            .rename_collection(("db", "old"), ("db", "target"), true)
            .unwrap();
    }
    let store = disk_store(dir.path());
    assert_eq!(
        all(&store, None, "target"),
        vec![doc! {"_id": 1, "email": "a"}]
    );
    assert!(all(&store, None, "old").is_empty());
    assert_eq!(store.list_indexes("db", "target").unwrap().len(), 2);
    let duplicate = insert(&store, "target", vec![doc! {"_id": 2, "email": "a"}]);
    assert_eq!(duplicate.errors[0].1.code, 11000);
}
