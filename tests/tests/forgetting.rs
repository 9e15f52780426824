//! Records forget children: what identifies a child in a message, consent
//! or audit record is sealed under the key of the day its term ends, never
//! written to the store's files in plain, and gone from every record (and
//! every copy of one) once the term is over; the access report then says
//! what it can and until when the rest was erased. Tested over the wire,
//! with the gateway's clock moved past the term, on the real store (sled,
//! or PostgreSQL when SCHAKEL_TEST_STORE=postgres).

use schakel_client::proto as pb;
use schakel_gateway::crypto::ChildKey;
use schakel_tests::calls::{access_report, deliver, eventually, files_below};
use schakel_tests::fixtures::{self, BSN};
use schakel_tests::{TestGateway, org};
use serde_json::Value;

/// The files of `dir` that hold `child` in plain: its bytes or its hex.
fn holding(dir: &std::path::Path, child: &schakel_gateway::crypto::ChildRef) -> Vec<String> {
    let hex = child.to_hex();
    files_below(dir)
        .into_iter()
        .filter(|f| {
            let bytes = std::fs::read(f).unwrap_or_default();
            bytes.windows(32).any(|w| w == child.as_bytes())
                || bytes.windows(hex.len()).any(|w| w == hex.as_bytes())
        })
        .map(|f| f.display().to_string())
        .collect()
}

async fn report(operator: &schakel_client::Client) -> Value {
    access_report(operator, BSN[2], "inzageverzoek na de termijn").await
}

#[tokio::test]
async fn a_childs_reference_is_never_stored_in_plain_and_is_gone_after_its_term() {
    let mut gw = TestGateway::start_with(|_, c| {
        c.exchange.sweep_interval_ms = 50;
    })
    .await;
    let swv = gw.client(org::SWV).await;
    let jgt = gw.client(org::JGT).await;
    let operator = gw.client(org::OPERATOR).await;
    let consent = fixtures::granted(&swv).await;
    let asked = deliver(
        &swv,
        &jgt,
        fixtures::lasting_consult("termijn", &gw.oin(org::JGT), &consent),
    )
    .await;
    let child = ChildKey::load_or_create(&gw.config.storage.data_dir)
        .unwrap()
        .child_ref(BSN[2]);

    // Within its term the report finds the message by its child...
    let before = report(&operator).await;
    assert_eq!(before["messages"][0]["message_id"], asked.sent.message_id);
    assert_eq!(before["consents"][0]["consent_id"], consent);
    let retention = gw.config.audit.retention_days as i64;
    assert_eq!(before["erased"]["retention_days"], retention);

    // ...and the store's files never held the reference in plain.
    if gw.config.storage.engine == schakel_gateway::config::StorageEngine::Sled {
        gw.stop().await;
        let store = gw.open_store().await;
        let m = store
            .message(&asked.sent.message_id.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.child_ref, Some(child), "the record still names it");
        drop(store);
        assert_eq!(holding(&gw.store_dir(), &child), Vec::<String>::new());
        gw = gw.restart().await;
    }

    // Its payload goes a day after delivery, as always...
    let operator = gw.client(org::OPERATOR).await;
    gw.clock.advance(time::Duration::days(2));
    eventually("the payload destroyed", || async {
        schakel_tests::calls::audit_about(&operator, &asked.sent.message_id)
            .await
            .into_iter()
            .find(|e| e.action == pb::AuditAction::Purged as i32)
    })
    .await;
    // ...the request expires in 300 days, its consent ends in 365: their
    // terms end the retention after that.
    gw.clock.advance(time::Duration::days(365 + retention));
    let term_end = fixtures::date(365 + retention);
    let forgotten = eventually("the term keys forgotten", || async {
        schakel_tests::calls::audit_query(&operator, pb::AuditQueryRequest::default())
            .await
            .into_iter()
            .filter(|e| e.detail.starts_with("term keys of"))
            .find(|e| e.detail.split("through ").nth(1) >= Some(term_end.as_str()))
    })
    .await;
    assert!(
        forgotten.detail.contains("no record whose term ended"),
        "{forgotten:?}"
    );

    let after = report(&operator).await;
    assert_eq!(after["messages"], serde_json::json!([]), "{after}");
    assert_eq!(after["consents"], serde_json::json!([]), "{after}");
    // It says until when the rest was erased: at least the message's term.
    let through = after["erased"]["through"].as_str().unwrap().to_owned();
    assert!(through >= term_end, "{after}");
    assert!(
        after["erased"]["what"].as_str().unwrap().contains(&through),
        "{after}"
    );

    // The records themselves no longer name the child.
    gw.stop().await;
    let store = gw.open_store().await;
    let c = store
        .consent(&consent.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((c.child_ref, c.birth_ref), (None, None));
    assert_eq!(
        c.purpose,
        fixtures::consent_grant(BSN[2]).purpose,
        "the rest is kept"
    );
    let m = store
        .message(&asked.sent.message_id.parse().unwrap())
        .await
        .unwrap();
    assert!(
        m.is_none_or(|m| m.child_ref.is_none()),
        "removed, or without its child"
    );
}

/// The folder of store format 4 (see the fixtures' README): its records
/// held these child references in plain.
mod format_4 {
    pub const CHILDREN: [&str; 3] = [
        "030ac1f478c28ba79c3e020a5cc84af45e2857e60d5dffdfd040d977b6ef8aab",
        "a9a4bf6daaf4ba184181051531c5ffbeba5b6ed51c4d221bcac96b618f0dc1bd",
        "ea8fa03f4563ff47c02afd9550488ce24dbad7b33b29b1be9a385ebe6af121da",
    ];
    pub const REQUEST: &str = "01a24ef8-f27e-7033-8f0d-5711e1311164";
    pub const REPLY: &str = "01a24ef8-f285-7453-9151-a8cb51d22f98";
    pub const CONSENT: &str = "01a24ef8-f27b-751e-8f37-ca71912fd76d";
}

#[tokio::test]
async fn a_data_folder_of_store_format_4_is_sealed_and_keeps_no_plain_copy() {
    format_4_is_sealed(None).await;
}

#[tokio::test]
async fn a_store_of_format_4_copied_into_postgresql_is_sealed() {
    let Some(db) = schakel_tests::postgres_database("copy_format_4") else {
        eprintln!("skipped: PostgreSQL is not installed");
        return;
    };
    format_4_is_sealed(Some(db)).await;
    // The database's live rows hold no child reference in plain either
    // (a row's text gives its bytea columns in hex, its JSON as written).
    let rows = database_text("copy_format_4").await;
    for hex in format_4::CHILDREN {
        assert!(!rows.contains(hex), "{hex} is in the database in plain");
    }
    assert!(rows.contains(format_4::REQUEST), "the rows were read");
}

/// Every row of every table of database `name` on the scratch server, as
/// text.
async fn database_text(name: &str) -> String {
    use schakel_gateway::store::postgres::{connection, scratch::Scratch};
    let pg = Scratch::shared().expect("the scratch server runs");
    let client = connection::connect(&pg.target(name)).await.unwrap();
    let tables = client
        .query(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
            &[],
        )
        .await
        .unwrap();
    let mut text = String::new();
    for t in tables {
        let table: String = t.get(0);
        let sql = format!("SELECT coalesce(string_agg(t::text, ' '), '') FROM \"{table}\" t");
        let row = client.query_one(&sql, &[]).await.unwrap();
        text.push_str(&row.get::<_, String>(0));
    }
    text
}

/// Opened (and over PostgreSQL, copied), the folder of format 4 keeps
/// every record naming its child, and no file of its store holds a child
/// reference in plain any more.
async fn format_4_is_sealed(into: Option<(String, std::path::PathBuf)>) {
    let (_old, mut gw) = schakel_tests::upgrades::open_fixture("store-format-4.tar.gz", into).await;
    let doc = report(&gw.client(org::OPERATOR).await).await;
    let ids: Vec<&str> = doc["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [format_4::REQUEST, format_4::REPLY], "{doc}");
    assert_eq!(doc["consents"][0]["consent_id"], format_4::CONSENT);
    gw.stop().await;
    for hex in format_4::CHILDREN {
        let child = schakel_gateway::crypto::ChildRef::from_hex(hex).unwrap();
        assert_eq!(
            holding(&gw.store_dir(), &child),
            Vec::<String>::new(),
            "{hex}"
        );
    }
}
