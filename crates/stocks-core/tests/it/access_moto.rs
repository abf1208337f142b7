//! `DynamoAccessStore` against moto, a real DynamoDB wire implementation: tokens created,
//! listed and revoked; a name held by one live token even when created at once; tokens of the
//! previous build (no `name#` item); the conditional counter reaching its limit; a missing
//! table in words.

use aws_sdk_dynamodb::types::AttributeValue;
use stocks_core::adapters::DynamoAccessStore;
use stocks_core::domain::{NewToken, TokenId, TokenRuleError};
use stocks_core::ports::{AccessError, AccessStore, RateDecision, TokenAdmin, TokenAdminError};
use stocks_testkit::MotoServer;

async fn store(moto: &MotoServer) -> DynamoAccessStore {
    DynamoAccessStore::new(moto.table("stocks-access").await, "stocks-access")
}

fn named(name: &str, rate: u32) -> NewToken {
    NewToken::new(name, rate).unwrap()
}

#[tokio::test]
async fn a_created_token_is_found_by_its_hash_and_listed_without_it() {
    let moto = MotoServer::start();
    let store = store(&moto).await;
    let (token, record) = store.create(&named("ci", 60)).await.unwrap();
    assert_eq!(record.token_id, token.hash().token_id());
    assert_eq!(store.token(&token.hash()).await.unwrap(), Some(record.clone()));
    assert_eq!(
        store.token(&stocks_testkit::unknown_token().hash()).await.unwrap(),
        None
    );

    let listed = store.list().await.unwrap();
    assert_eq!(listed, [record]);
    let shown = serde_json::to_string(&listed).unwrap();
    assert!(!shown.contains(token.reveal()) && !shown.contains(&token.hash().to_hex()));

    // What is stored is the hash, never the token.
    let items = moto
        .dynamodb_client()
        .scan()
        .table_name("stocks-access")
        .send()
        .await
        .unwrap();
    let dump = format!("{:?}", items.items());
    assert!(!dump.contains(token.reveal()), "the token itself is never stored");
    assert!(dump.contains(&format!("token#{}", token.hash().to_hex())));
}

#[tokio::test]
async fn names_are_unique_among_live_tokens_and_revocation_is_by_name() {
    let moto = MotoServer::start();
    let store = store(&moto).await;
    // Another live token, created first: revoking "ci" must not touch it.
    let (other, _) = store.create(&named("other", 60)).await.unwrap();
    let (token, _) = store.create(&named("ci", 60)).await.unwrap();
    assert!(matches!(
        store.create(&named("ci", 60)).await,
        Err(TokenAdminError::NameTaken(_))
    ));
    assert!(
        matches!(store.revoke("nobody").await, Err(TokenAdminError::NoSuchToken(_))),
        "a name no token has revokes nothing"
    );
    let revoked = store.revoke("ci").await.unwrap();
    assert_eq!(revoked.name, "ci");
    assert!(revoked.revoked_at.is_some());
    let untouched = store.token(&other.hash()).await.unwrap().unwrap();
    assert_eq!(untouched.revoked_at, None, "only the named token is revoked");
    let found = store.token(&token.hash()).await.unwrap().unwrap();
    assert!(
        found.revoked_at.is_some(),
        "a revoked token is still known, and refused"
    );
    assert!(matches!(store.revoke("ci").await, Err(TokenAdminError::NoSuchToken(_))));
    assert!(store.create(&named("ci", 30)).await.is_ok(), "the name is free again");
    assert!(matches!(NewToken::new("a b", 30), Err(TokenRuleError::InvalidName(_))));
}

#[tokio::test]
async fn two_operators_creating_one_name_at_once_leave_one_live_token() {
    let moto = MotoServer::start();
    let store = store(&moto).await;
    let creates: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.create(&named("ci", 60)).await })
        })
        .collect();
    let mut created = 0;
    for create in creates {
        match create.await.unwrap() {
            Ok(_) => created += 1,
            Err(TokenAdminError::NameTaken(name)) => assert_eq!(name, "ci"),
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(created, 1, "DynamoDB itself refused all but one");
    let live: Vec<_> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.revoked_at.is_none())
        .collect();
    assert_eq!(live.len(), 1, "{live:?}");
    store.revoke("ci").await.unwrap();
    assert!(store.list().await.unwrap().iter().all(|t| t.revoked_at.is_some()));
}

#[tokio::test]
async fn a_token_from_before_name_items_still_owns_its_name_until_revoked() {
    let moto = MotoServer::start();
    let store = store(&moto).await;
    // What the previous build wrote: the token item alone.
    let old = stocks_testkit::unknown_token();
    moto.dynamodb_client()
        .put_item()
        .table_name("stocks-access")
        .item("pk", AttributeValue::S(format!("token#{}", old.hash().to_hex())))
        .item("name", AttributeValue::S("ci".into()))
        .item("createdAt", AttributeValue::S("2026-11-24T10:00:00.000Z".into()))
        .item("ratePerMinute", AttributeValue::N("60".into()))
        .send()
        .await
        .unwrap();
    assert!(matches!(
        store.create(&named("ci", 60)).await,
        Err(TokenAdminError::NameTaken(_))
    ));
    let revoked = store.revoke("ci").await.unwrap();
    assert_eq!(revoked.token_id, old.hash().token_id());
    assert!(store.token(&old.hash()).await.unwrap().unwrap().revoked_at.is_some());
    assert!(store.create(&named("ci", 60)).await.is_ok(), "the name is free again");
}

#[tokio::test]
async fn the_counter_stops_at_the_limit_with_a_conditional_write() {
    let moto = MotoServer::start();
    let store = store(&moto).await;
    let id = TokenId::parse("0123456789ab").unwrap();
    let minute = 29_925_240;
    for _ in 0..3 {
        assert_eq!(
            store.count_request(&id, minute, 3).await.unwrap(),
            RateDecision::Counted
        );
    }
    assert_eq!(
        store.count_request(&id, minute, 3).await.unwrap(),
        RateDecision::OverLimit
    );
    assert_eq!(
        store.count_request(&id, minute + 1, 3).await.unwrap(),
        RateDecision::Counted,
        "a new minute"
    );
    let item = moto
        .dynamodb_client()
        .get_item()
        .table_name("stocks-access")
        .key("pk", AttributeValue::S(format!("rate#{id}#{minute}")))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        item["count"].as_n().unwrap(),
        "3",
        "the refused request was not counted"
    );
    let expires: i64 = item["expiresAt"].as_n().unwrap().parse().unwrap();
    assert_eq!(
        expires,
        (minute + 1) * 60 + 3600,
        "kept an hour past its minute, then TTL"
    );
}

#[tokio::test]
async fn a_missing_table_is_said_in_words() {
    let moto = MotoServer::start();
    let store = DynamoAccessStore::new(moto.dynamodb_client(), "nope");
    let err = store.token(&stocks_testkit::unknown_token().hash()).await.unwrap_err();
    assert!(matches!(err, AccessError::NoSuchTable { .. }), "{err:?}");
    assert_eq!(err.to_string(), "no such table: nope");
    let err = store.list().await.unwrap_err();
    assert_eq!(err.to_string(), "no such table: nope");
    assert!(matches!(err, TokenAdminError::Access(AccessError::NoSuchTable { .. })));
}
