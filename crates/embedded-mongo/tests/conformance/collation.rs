//! Collation through the official driver, on `find` and `count`: locale "en" with strength 1-3
//! and `numericOrdering` compares and sorts strings as MongoDB documents it; everything else is
//! refused with 238 `NotImplemented`, never ignored.

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};
use mongodb::options::{Collation, CollationStrength};
use mongodb::Collection;

use crate::fixture::{server_error, TestServer};

async fn names(
    collection: &Collection<Document>,
    filter: Document,
    collation: Collation,
) -> Vec<String> {
    collection
        .find(filter)
        .sort(doc! { "name": 1, "_id": 1 })
        .collation(collation)
        .await
        .expect("a collated find runs")
        .try_collect::<Vec<Document>>()
        .await
        .expect("the cursor is read")
        .into_iter()
        .map(|document| document.get_str("name").unwrap().to_string())
        .collect()
}

fn english(strength: CollationStrength) -> Collation {
    Collation::builder().locale("en").strength(strength).build()
}

async fn people(server: &TestServer) -> Collection<Document> {
    let people = server.collection("people");
    people
        .insert_many(
            ["b", "B", "a", "A", "á", "Café", "cafe", "CAFE", "café"]
                .iter()
                .enumerate()
                .map(|(id, name)| doc! { "_id": id as i32, "name": *name }),
        )
        .await
        .unwrap();
    people
}

#[tokio::test]
async fn find_compares_and_sorts_strings_by_the_english_collation() {
    let server = TestServer::start().await;
    let people = people(&server).await;

    // Binary order puts every capital first; English puts base letters first, then accents,
    // then case (lower first).
    assert_eq!(
        names(&people, doc! {}, english(CollationStrength::Tertiary)).await,
        ["a", "A", "á", "b", "B", "cafe", "CAFE", "café", "Café"]
    );
    assert_eq!(
        names(
            &people,
            doc! { "name": "cafe" },
            english(CollationStrength::Tertiary)
        )
        .await,
        ["cafe"]
    );
    // Strength 2 ignores case, strength 1 accents too.
    assert_eq!(
        names(
            &people,
            doc! { "name": "cafe" },
            english(CollationStrength::Secondary)
        )
        .await,
        ["cafe", "CAFE"]
    );
    // At strength 1 all four are equal, so the sort's tie-break (_id) orders them.
    assert_eq!(
        names(
            &people,
            doc! { "name": "CAFE" },
            english(CollationStrength::Primary)
        )
        .await,
        ["Café", "cafe", "CAFE", "café"]
    );
    assert_eq!(
        names(
            &people,
            doc! { "name": { "$in": ["A", "B"] } },
            english(CollationStrength::Primary)
        )
        .await,
        ["a", "A", "á", "b", "B"]
    );
    assert_eq!(
        names(
            &people,
            doc! { "name": { "$gte": "b", "$lt": "c" } },
            english(CollationStrength::Secondary)
        )
        .await,
        ["b", "B"]
    );
    assert_eq!(
        names(
            &people,
            doc! { "$or": [ { "name": "á" }, { "name": { "$eq": "B" } } ] },
            english(CollationStrength::Secondary)
        )
        .await,
        ["á", "b", "B"]
    );
    // The simple collation is still binary comparison.
    let simple = people
        .find(doc! { "name": "cafe" })
        .collation(Collation::builder().locale("simple").build())
        .await
        .unwrap()
        .try_collect::<Vec<Document>>()
        .await
        .unwrap();
    assert_eq!(simple.len(), 1);
}

#[tokio::test]
async fn numeric_ordering_sorts_digit_runs_by_their_value() {
    let server = TestServer::start().await;
    let items = server.collection("items");
    items
        .insert_many(
            ["item10", "item9", "item100", "item1"]
                .iter()
                .enumerate()
                .map(|(id, name)| doc! { "_id": id as i32, "name": *name }),
        )
        .await
        .unwrap();
    let numeric = Collation::builder()
        .locale("en")
        .numeric_ordering(true)
        .build();
    assert_eq!(
        names(&items, doc! {}, numeric.clone()).await,
        ["item1", "item9", "item10", "item100"]
    );
    assert_eq!(
        names(&items, doc! { "name": { "$gt": "item9" } }, numeric).await,
        ["item10", "item100"]
    );
    assert_eq!(
        names(&items, doc! {}, english(CollationStrength::Tertiary)).await,
        ["item1", "item10", "item100", "item9"],
        "without numericOrdering digits compare one by one"
    );
}

#[tokio::test]
async fn count_counts_matches_under_the_collation() {
    let server = TestServer::start().await;
    people(&server).await;
    let count = |strength: i32| {
        server.run(doc! {
            "count": "people",
            "query": { "name": "CAFE" },
            "collation": { "locale": "en", "strength": strength },
        })
    };
    let mut counted = Vec::new();
    for strength in 1..=3 {
        counted.push(crate::fixture::number(&count(strength).await.unwrap(), "n"));
    }
    assert_eq!(counted, [4, 2, 1]);
}

#[tokio::test]
async fn collation_the_store_cannot_honour_is_refused_with_238_and_changes_nothing() {
    let server = TestServer::start().await;
    let people = people(&server).await;
    let french = Collation::builder().locale("fr").build();
    let refused = people
        .find(doc! {})
        .collation(french)
        .await
        .expect_err("refused");
    assert_eq!(server_error(&refused).code, 238);
    let regex = people
        .find(doc! { "name": { "$regex": "^c" } })
        .collation(english(CollationStrength::Secondary))
        .await
        .expect_err("refused");
    assert_eq!(server_error(&regex).code, 238);
    for command in [
        doc! { "aggregate": "people", "pipeline": [ { "$project": { "name": 1 } } ], "cursor": {}, "collation": { "locale": "en", "strength": 2 } },
        doc! { "distinct": "people", "key": "name", "collation": { "locale": "fr" } },
        doc! { "update": "people", "updates": [ { "q": { "name": "cafe" }, "u": { "$set": { "x": 1 } },
        "multi": true, "collation": { "locale": "de" } } ] },
        doc! { "find": "people", "collation": { "locale": "en", "caseFirst": "upper" } },
        doc! { "find": "people", "collation": { "locale": "en", "strength": 5 } },
    ] {
        let error = server.run(command.clone()).await.expect_err("refused");
        assert_eq!(server_error(&error).code, 238, "{command}");
    }
    let bad = server
        .run(doc! { "find": "people", "collation": { "locale": "en", "strength": 9 } })
        .await
        .expect_err("refused");
    assert_eq!(server_error(&bad).code, 2);
    assert_eq!(
        people.count_documents(doc! { "x": 1 }).await.unwrap(),
        0,
        "the refused update wrote nothing"
    );
}

#[tokio::test]
async fn updates_deletes_and_find_and_modify_match_by_the_collation() {
    let server = TestServer::start().await;
    let people = people(&server).await;
    let secondary = english(CollationStrength::Secondary);

    let updated = people
        .update_many(
            doc! { "name": "CAFE" },
            doc! { "$set": { "case_blind": true } },
        )
        .collation(secondary.clone())
        .await
        .unwrap();
    assert_eq!((updated.matched_count, updated.modified_count), (2, 2));
    let marked: Vec<i32> = people
        .find(doc! { "case_blind": true })
        .sort(doc! { "_id": 1 })
        .await
        .unwrap()
        .try_collect::<Vec<Document>>()
        .await
        .unwrap()
        .iter()
        .map(|document| document.get_i32("_id").unwrap())
        .collect();
    assert_eq!(marked, [6, 7], "cafe and CAFE, not the accented ones");

    // The first by the collation's order: "a" sorts before "A" and "á".
    let taken = people
        .find_one_and_update(
            doc! { "name": { "$lt": "b" } },
            doc! { "$set": { "first": true } },
        )
        .sort(doc! { "name": 1 })
        .collation(english(CollationStrength::Tertiary))
        .await
        .unwrap()
        .expect("a match");
    assert_eq!(taken.get_str("name").unwrap(), "a");

    let deleted = people
        .delete_many(doc! { "name": "A" })
        .collation(english(CollationStrength::Primary))
        .await
        .unwrap();
    assert_eq!(
        deleted.deleted_count, 3,
        "a, A and á are one letter at strength 1"
    );
    assert_eq!(people.count_documents(doc! {}).await.unwrap(), 6);

    // arrayFilters would be compared without the collation: refused, nothing written.
    let refused = people
        .update_many(doc! {}, doc! { "$set": { "tags.$[t]": "x" } })
        .array_filters(vec![doc! { "t": "y" }])
        .collation(secondary)
        .await
        .expect_err("refused");
    assert_eq!(server_error(&refused).code, 238);
    let upserted = people
        .update_one(doc! { "name": "Zoë" }, doc! { "$set": { "n": 1 } })
        .upsert(true)
        .collation(english(CollationStrength::Primary))
        .await
        .unwrap();
    assert!(
        upserted.upserted_id.is_some(),
        "no zoe yet, so one is inserted"
    );
    let zoe = people
        .find_one(doc! { "name": "zoe" })
        .collation(english(CollationStrength::Primary))
        .await
        .unwrap()
        .expect("found by its base letters");
    assert_eq!(
        zoe.get_str("name").unwrap(),
        "Zoë",
        "the upsert keeps the filter's own text"
    );
}

#[tokio::test]
async fn distinct_counts_values_the_collation_finds_equal_once() {
    let server = TestServer::start().await;
    let people = people(&server).await;
    let distinct = |filter: Document, collation: Option<Collation>| {
        let people = people.clone();
        async move {
            let values = match collation {
                Some(collation) => people.distinct("name", filter).collation(collation).await,
                None => people.distinct("name", filter).await,
            };
            values
                .unwrap()
                .into_iter()
                .map(|value| value.as_str().unwrap().to_string())
                .collect::<Vec<String>>()
        }
    };
    assert_eq!(distinct(doc! {}, None).await.len(), 9);
    // One value per class, the first stored, in the collation's order; accents still count.
    assert_eq!(
        distinct(doc! {}, Some(english(CollationStrength::Secondary))).await,
        ["a", "á", "b", "cafe", "Café"]
    );
    assert_eq!(
        distinct(doc! {}, Some(english(CollationStrength::Primary))).await,
        ["a", "b", "Café"]
    );
    assert_eq!(
        distinct(
            doc! { "name": { "$in": ["B", "CAFE"] } },
            Some(english(CollationStrength::Secondary))
        )
        .await,
        ["b", "cafe"]
    );
}

#[tokio::test]
async fn aggregate_takes_a_collation_for_what_drivers_send_and_refuses_the_rest() {
    let server = TestServer::start().await;
    let people = people(&server).await;
    let secondary = english(CollationStrength::Secondary);

    // count_documents sends [$match, $group {_id: 1, n: {$sum: 1}}].
    let counted = people
        .count_documents(doc! { "name": "CAFE" })
        .collation(secondary.clone())
        .await
        .unwrap();
    assert_eq!(counted, 2);
    let page: Vec<String> = people
        .aggregate(vec![
            doc! { "$match": { "name": { "$lt": "c" } } },
            doc! { "$sort": { "name": -1, "_id": 1 } },
            doc! { "$skip": 1 },
            doc! { "$limit": 3 },
        ])
        .collation(english(CollationStrength::Tertiary))
        .await
        .unwrap()
        .try_collect::<Vec<Document>>()
        .await
        .unwrap()
        .iter()
        .map(|document| document.get_str("name").unwrap().to_string())
        .collect();
    assert_eq!(page, ["b", "á", "A"], "descending: B b á A a, one skipped");
    let counted_stage: Vec<Document> = people
        .aggregate(vec![
            doc! { "$match": { "name": "a" } },
            doc! { "$count": "n" },
        ])
        .collation(english(CollationStrength::Primary))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(counted_stage, [doc! { "n": 3 }]);

    for pipeline in [
        vec![doc! { "$group": { "_id": "$name" } }],
        vec![
            doc! { "$sort": { "name": 1 } },
            doc! { "$match": { "name": "a" } },
        ],
        vec![
            doc! { "$match": {} },
            doc! { "$lookup": { "from": "people", "localField": "name", "foreignField": "name", "as": "same" } },
        ],
        vec![
            doc! { "$match": {} },
            doc! { "$group": { "_id": 1, "names": { "$addToSet": "$name" } } },
        ],
    ] {
        let refused = people
            .aggregate(pipeline.clone())
            .collation(secondary.clone())
            .await
            .expect_err("refused");
        assert_eq!(server_error(&refused).code, 238, "{pipeline:?}");
    }
}
