//! `$jsonSchema` validators as the seed data model (000) defines them for `users`, plus the other
//! keywords the issue lists: failures are code 121 with MongoDB's errInfo explanation.

use mongodb::bson::{doc, Bson, Document};

use crate::fixture::{server_error, TestServer};

/// The validator of the seed's `users` collection, verbatim.
fn users_validator() -> Document {
    doc! {
        "$jsonSchema": {
            "bsonType": "object",
            "required": ["email", "password_hash", "full_name", "role", "status"],
            "properties": {
                "email": {
                    "bsonType": "string",
                    "pattern": "^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\\.[a-zA-Z]{2,}$",
                },
                "role": { "enum": ["client", "tester", "admin"] },
                "status": { "enum": ["active", "suspended", "pending_verification"] },
            },
        }
    }
}

fn valid_user(id: i32) -> Document {
    doc! {
        "_id": id,
        "email": "john.doe@techcorp.com",
        "password_hash": "$2b$12$LQv3c1yqBWVHxkd0LHAkCOYz6TtxMQJqhN8/LewY5GyYIRSgxA7.S",
        "full_name": "John Doe",
        "role": "client",
        "status": "active",
    }
}

async fn users(test: &TestServer) {
    test.run(doc! { "create": "users", "validator": users_validator() })
        .await
        .unwrap();
}

/// The `schemaRulesNotSatisfied` entries of a validation failure.
fn rules_not_satisfied(details: &Document) -> Vec<Document> {
    let inner = details.get_document("details").unwrap();
    assert_eq!(inner.get_str("operatorName").unwrap(), "$jsonSchema");
    inner
        .get_array("schemaRulesNotSatisfied")
        .unwrap()
        .iter()
        .map(|rule| rule.as_document().unwrap().clone())
        .collect()
}

#[tokio::test]
async fn seed_users_validator_accepts_a_valid_user() {
    let test = TestServer::start().await;
    users(&test).await;
    test.collection("users")
        .insert_one(valid_user(1))
        .await
        .unwrap();
    assert_eq!(
        test.collection("users")
            .count_documents(doc! {})
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn missing_required_fields_fail_with_121_listing_missing_properties() {
    let test = TestServer::start().await;
    users(&test).await;
    let error = test
        .collection("users")
        .insert_one(doc! { "_id": 7, "email": "a@b.io", "role": "client", "status": "active" })
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 121);
    assert_eq!(error.code_name, "DocumentValidationFailure");
    assert_eq!(error.message, "Document failed validation");
    let details = error.details.expect("a validation failure carries errInfo");
    assert_eq!(details.get_i32("failingDocumentId").unwrap(), 7);
    let rules = rules_not_satisfied(&details);
    let required = rules
        .iter()
        .find(|rule| rule.get_str("operatorName").unwrap() == "required")
        .expect("the required rule is reported");
    let mut missing: Vec<&str> = required
        .get_array("missingProperties")
        .unwrap()
        .iter()
        .map(|name| name.as_str().unwrap())
        .collect();
    missing.sort();
    assert_eq!(missing, vec!["full_name", "password_hash"]);
    assert_eq!(
        required.get_document("specifiedAs").unwrap(),
        &doc! { "required": ["email", "password_hash", "full_name", "role", "status"] }
    );
    assert_eq!(
        test.collection("users")
            .count_documents(doc! {})
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn enum_violation_reports_the_property_and_considered_value() {
    let test = TestServer::start().await;
    users(&test).await;
    let mut user = valid_user(1);
    user.insert("role", "guest");
    let error = test.collection("users").insert_one(user).await.unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 121);
    let rules = rules_not_satisfied(&error.details.unwrap());
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].get_str("operatorName").unwrap(), "properties");
    let properties = rules[0].get_array("propertiesNotSatisfied").unwrap();
    assert_eq!(properties.len(), 1);
    let property = properties[0].as_document().unwrap();
    assert_eq!(property.get_str("propertyName").unwrap(), "role");
    let detail = property.get_array("details").unwrap()[0]
        .as_document()
        .unwrap()
        .clone();
    assert_eq!(detail.get_str("operatorName").unwrap(), "enum");
    assert_eq!(
        detail.get_str("reason").unwrap(),
        "value was not found in enum"
    );
    assert_eq!(detail.get_str("consideredValue").unwrap(), "guest");
    assert_eq!(
        detail.get_document("specifiedAs").unwrap(),
        &doc! { "enum": ["client", "tester", "admin"] }
    );
}

#[tokio::test]
async fn pattern_violation_reports_regular_expression_did_not_match() {
    let test = TestServer::start().await;
    users(&test).await;
    let mut user = valid_user(1);
    user.insert("email", "not-an-email");
    let error = test.collection("users").insert_one(user).await.unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 121);
    let rules = rules_not_satisfied(&error.details.unwrap());
    let property = rules[0].get_array("propertiesNotSatisfied").unwrap()[0]
        .as_document()
        .unwrap()
        .clone();
    assert_eq!(property.get_str("propertyName").unwrap(), "email");
    let detail = property.get_array("details").unwrap()[0]
        .as_document()
        .unwrap()
        .clone();
    assert_eq!(detail.get_str("operatorName").unwrap(), "pattern");
    assert_eq!(
        detail.get_str("reason").unwrap(),
        "regular expression did not match"
    );
    assert_eq!(detail.get_str("consideredValue").unwrap(), "not-an-email");
}

#[tokio::test]
async fn bson_type_violation_reports_type_did_not_match() {
    let test = TestServer::start().await;
    users(&test).await;
    let mut user = valid_user(1);
    user.insert("email", 42);
    let error = test.collection("users").insert_one(user).await.unwrap_err();
    let error = server_error(&error);
    let rules = rules_not_satisfied(&error.details.unwrap());
    let property = rules[0].get_array("propertiesNotSatisfied").unwrap()[0]
        .as_document()
        .unwrap()
        .clone();
    let detail = property.get_array("details").unwrap()[0]
        .as_document()
        .unwrap()
        .clone();
    assert_eq!(detail.get_str("operatorName").unwrap(), "bsonType");
    assert_eq!(detail.get_str("reason").unwrap(), "type did not match");
    assert_eq!(detail.get_i32("consideredValue").unwrap(), 42);
    assert_eq!(detail.get_str("consideredType").unwrap(), "int");
}

#[tokio::test]
async fn an_update_that_breaks_the_schema_fails_and_changes_nothing() {
    let test = TestServer::start().await;
    users(&test).await;
    let collection = test.collection("users");
    collection.insert_one(valid_user(1)).await.unwrap();
    let error = collection
        .update_one(doc! { "_id": 1 }, doc! { "$set": { "status": "deleted" } })
        .await
        .unwrap_err();
    assert_eq!(server_error(&error).code, 121);
    let error = collection
        .update_one(doc! { "_id": 1 }, doc! { "$unset": { "full_name": "" } })
        .await
        .unwrap_err();
    assert_eq!(server_error(&error).code, 121);
    let stored = collection
        .find_one(doc! { "_id": 1 })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, valid_user(1));
}

#[tokio::test]
async fn an_upsert_that_breaks_the_schema_inserts_nothing() {
    let test = TestServer::start().await;
    users(&test).await;
    let error = test
        .collection("users")
        .update_one(doc! { "_id": 5 }, doc! { "$set": { "role": "client" } })
        .upsert(true)
        .await
        .unwrap_err();
    assert_eq!(server_error(&error).code, 121);
    assert_eq!(
        test.collection("users")
            .count_documents(doc! {})
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn numeric_string_array_and_additional_properties_keywords() {
    let test = TestServer::start().await;
    test.run(doc! {
        "create": "listings",
        "validator": { "$jsonSchema": {
            "bsonType": "object",
            "additionalProperties": false,
            "properties": {
                "_id": {},
                "title": { "bsonType": "string", "minLength": 3, "maxLength": 10 },
                "price": { "bsonType": ["int", "long", "double", "decimal"], "minimum": 0, "maximum": 1000 },
                "tags": { "bsonType": "array", "items": { "bsonType": "string" } },
                "owner": {
                    "bsonType": "object",
                    "required": ["id"],
                    "properties": { "id": { "bsonType": "objectId" } },
                },
            },
        } },
    })
    .await
    .unwrap();
    let listings = test.collection("listings");
    listings
        .insert_one(doc! {
            "_id": 1,
            "title": "Lamp",
            "price": 12.5,
            "tags": ["home"],
            "owner": { "id": mongodb::bson::oid::ObjectId::new() },
        })
        .await
        .unwrap();
    let rejected: Vec<Document> = vec![
        doc! { "_id": 2, "title": "ab" },
        doc! { "_id": 3, "title": "much too long title" },
        doc! { "_id": 4, "price": -1 },
        doc! { "_id": 5, "price": 1000.5 },
        doc! { "_id": 6, "price": "12" },
        doc! { "_id": 7, "tags": ["ok", 3] },
        doc! { "_id": 8, "unexpected": true },
        doc! { "_id": 9, "owner": {} },
        doc! { "_id": 10, "owner": { "id": "not an ObjectId" } },
    ];
    for document in rejected {
        let error = listings.insert_one(document.clone()).await.unwrap_err();
        assert_eq!(
            server_error(&error).code,
            121,
            "{document} must be rejected"
        );
    }
    listings
        .insert_one(doc! { "_id": 11, "price": 1000 })
        .await
        .unwrap();
    listings
        .insert_one(doc! { "_id": 12, "price": 0i64 })
        .await
        .unwrap();
    assert_eq!(listings.count_documents(doc! {}).await.unwrap(), 3);
}

#[tokio::test]
async fn validation_action_warn_accepts_invalid_documents() {
    let test = TestServer::start().await;
    test.run(doc! {
        "create": "warned",
        "validator": users_validator(),
        "validationAction": "warn",
    })
    .await
    .unwrap();
    test.collection("warned")
        .insert_one(doc! { "_id": 1 })
        .await
        .unwrap();
    assert_eq!(
        test.collection("warned")
            .count_documents(doc! {})
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn bypass_document_validation_skips_the_validator() {
    let test = TestServer::start().await;
    users(&test).await;
    test.collection("users")
        .insert_one(doc! { "_id": 1 })
        .bypass_document_validation(true)
        .await
        .unwrap();
    assert_eq!(
        test.collection("users")
            .count_documents(doc! {})
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn moderate_validation_level_allows_updates_to_already_invalid_documents() {
    let test = TestServer::start().await;
    test.collection("legacy")
        .insert_one(doc! { "_id": 1, "old": true })
        .await
        .unwrap();
    test.run(doc! {
        "collMod": "legacy",
        "validator": { "$jsonSchema": { "required": ["name"] } },
        "validationLevel": "moderate",
    })
    .await
    .unwrap();
    test.collection("legacy")
        .update_one(doc! { "_id": 1 }, doc! { "$set": { "old": false } })
        .await
        .unwrap();
    let stored = test
        .collection("legacy")
        .find_one(doc! {})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, doc! { "_id": 1, "old": false });
    let error = test
        .collection("legacy")
        .insert_one(doc! { "_id": 2 })
        .await
        .unwrap_err();
    assert_eq!(server_error(&error).code, 121);
}

#[tokio::test]
async fn query_operator_validators_also_apply() {
    let test = TestServer::start().await;
    test.run(doc! { "create": "ranged", "validator": { "qty": { "$gte": 0 }, "sku": { "$type": "string" } } })
        .await
        .unwrap();
    test.collection("ranged")
        .insert_one(doc! { "qty": 1, "sku": "a" })
        .await
        .unwrap();
    let error = test
        .collection("ranged")
        .insert_one(doc! { "qty": -1, "sku": "a" })
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 121);
    assert!(matches!(
        error
            .details
            .as_ref()
            .and_then(|details| details.get("failingDocumentId")),
        Some(Bson::ObjectId(_))
    ));
}

#[tokio::test]
async fn invalid_json_schema_keyword_is_rejected_at_create() {
    let test = TestServer::start().await;
    let error = test
        .run(
            doc! { "create": "broken", "validator": { "$jsonSchema": { "bsonType": "nonsense" } } },
        )
        .await
        .unwrap_err();
    let error = server_error(&error);
    assert_eq!(error.code, 2);
    assert_eq!(error.code_name, "BadValue");
}
