//! Atlas Search through the official driver: the store answers as a community mongod 7.0 does,
//! refusing the search-index commands with 115 `CommandNotSupported` and the Atlas-only stages
//! with 6047401, and changing nothing.

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};
use mongodb::SearchIndexModel;

use crate::fixture::{server_error, TestServer};

#[tokio::test]
async fn search_index_commands_are_refused_as_on_a_mongod_without_atlas_search() {
    let server = TestServer::start().await;
    let movies = server.collection("movies");
    movies
        .insert_one(doc! { "_id": 1, "title": "Up" })
        .await
        .unwrap();

    let model = SearchIndexModel::builder()
        .definition(doc! { "mappings": { "dynamic": true } })
        .name("default".to_string())
        .build();
    let refusals = [
        movies.create_search_index(model).await.map(|_| ()),
        movies
            .update_search_index("default", doc! { "mappings": { "dynamic": false } })
            .await,
        movies.drop_search_index("default").await,
    ];
    for refused in refusals {
        let error = server_error(&refused.expect_err("refused"));
        assert_eq!(
            (error.code, error.code_name.as_str(), error.message.as_str()),
            (
                115,
                "CommandNotSupported",
                "Search index commands are only supported with Atlas."
            )
        );
    }
    let indexes: Vec<String> = movies.list_index_names().await.unwrap();
    assert_eq!(indexes, ["_id_"], "nothing was created");
}

#[tokio::test]
async fn atlas_search_stages_are_refused_with_mongods_code_wherever_they_appear() {
    let server = TestServer::start().await;
    let movies = server.collection("movies");
    movies
        .insert_one(doc! { "_id": 1, "title": "Up" })
        .await
        .unwrap();

    let listed = movies.list_search_indexes().await;
    let error = server_error(&listed.expect_err("refused"));
    assert_eq!(
        (error.code, error.code_name.as_str(), error.message.as_str()),
        (
            6047401,
            "Location6047401",
            "$listSearchIndexes stage is only allowed on MongoDB Atlas"
        )
    );
    for (stage, pipeline) in [
        (
            "$search",
            vec![doc! { "$search": { "text": { "query": "up", "path": "title" } } }],
        ),
        (
            "$searchMeta",
            vec![doc! { "$searchMeta": { "count": { "type": "total" } } }],
        ),
        (
            "$vectorSearch",
            vec![
                doc! { "$vectorSearch": { "index": "v", "path": "e", "queryVector": [0.1], "limit": 1 } },
            ],
        ),
        (
            "$search",
            vec![
                doc! { "$lookup": { "from": "movies", "pipeline": [ { "$search": {} } ], "as": "m" } },
            ],
        ),
    ] {
        let refused = movies.aggregate(pipeline).await;
        let error = server_error(&refused.expect_err("refused"));
        assert_eq!(error.code, 6047401, "{stage}");
        assert_eq!(
            error.message,
            format!("{stage} stage is only allowed on MongoDB Atlas")
        );
    }
    let all: Vec<Document> = movies
        .aggregate(vec![doc! { "$match": {} }])
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 1, "an ordinary pipeline still runs");
}
