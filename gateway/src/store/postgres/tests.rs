//! The PostgreSQL engine against a real server ([`Scratch`]).

use super::connection::{Target, connect};
use super::schema::{MIGRATIONS, Migration, latest, migrate};
use super::scratch::Scratch;
use crate::store::Store;

/// Opens the store of test folder `dir`: a database of the shared scratch
/// server named after the folder, so that opening it again finds what it
/// held.
fn open(dir: &std::path::Path) -> futures::future::BoxFuture<'static, std::sync::Arc<dyn Store>> {
    let key = crate::crypto::SigningKey::load_or_create(dir).unwrap();
    let database = database_of(dir);
    let sealing = crate::store::sealing::Sealing::for_tests(dir);
    Box::pin(async move {
        let pg = Scratch::shared().expect("the scratch server");
        pg.ensure_database(&database).await;
        let store =
            super::PostgresStore::open(pg.target(&database), std::sync::Arc::new(key), sealing)
                .await
                .unwrap();
        std::sync::Arc::new(store) as std::sync::Arc<dyn Store>
    })
}

/// Whether `client`'s connection is encrypted, as the server sees it.
async fn over_tls(client: &tokio_postgres::Client) -> bool {
    client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

/// The database [`open`] names after test folder `dir`.
fn database_of(dir: &std::path::Path) -> String {
    let hash = crate::crypto::sha256(dir.as_os_str().as_encoded_bytes());
    format!("c{}", &hash.to_hex()[..24])
}

store_contract!(open, if || Scratch::shared().is_some());

#[tokio::test]
async fn a_database_of_schema_1_counts_the_bytes_it_holds_undelivered() {
    use crate::model::Outcome;
    use crate::store::contract::fixtures::*;
    let Some(pg) = Scratch::shared() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).await;
    let a = accept(store.as_ref(), message_of("a", statute(), 1, 300), NOW).await;
    accept(store.as_ref(), message_of("b", statute(), 2, 200), NOW).await;
    assert_eq!(
        lease_ids(store.as_ref(), 1, NOW, MINUTE).await,
        std::slice::from_ref(&a)
    );
    store
        .finish(&oin(RECIPIENT), &a, Outcome::Delivered, NOW, MINUTE)
        .await
        .unwrap();
    drop(store);
    // As the previous release left it: schema 1, nothing counted in bytes.
    connect(&pg.target(&database_of(tmp.path())))
        .await
        .unwrap()
        .batch_execute(
            "ALTER TABLE inbox_counts DROP COLUMN bytes; DROP TABLE sender_bytes;
             DROP TABLE store_sealing; DROP TABLE cases; DROP TABLE audit_nodes; DROP TABLE tree_heads;
             ALTER TABLE audit_head DROP COLUMN tree_first, DROP COLUMN tree_edge, DROP COLUMN tree_size;
             DELETE FROM schakel_schema WHERE version >= 2",
        )
        .await
        .unwrap();
    let store = open(tmp.path()).await;
    let figures = store.inbox_figures().await.unwrap();
    assert_eq!(figures[0].held_bytes, 200, "{figures:?}");
    assert_eq!(store.sender_figures().await.unwrap(), [(oin(SENDER), 200)]);
}

/// An instance of the release before the tree, still running beside a
/// migrated database, moves the chain's head without the tree: its write is
/// refused, naming the rule, and the tree stays as the last group left it.
#[tokio::test]
async fn a_writer_that_moves_the_chain_without_the_tree_is_refused() {
    use crate::store::contract::fixtures::*;
    let Some(pg) = Scratch::shared() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).await;
    accept(store.as_ref(), message("older", statute(), 1), NOW).await;
    let client = connect(&pg.target(&database_of(tmp.path()))).await.unwrap();
    // What the earlier release's writer sends at the end of each group.
    let refused = client
        .execute(
            "UPDATE audit_head SET seq = seq + 1, hash = $1",
            &[&vec![7u8; 32]],
        )
        .await
        .unwrap_err();
    assert!(
        format!("{refused:?}").contains("tree_follows_the_chain"),
        "{refused:?}"
    );
    accept(store.as_ref(), message("newer", statute(), 2), NOW).await;
    let head = store.tree_head(None).await.unwrap().unwrap();
    assert_eq!(head.size, store.audit_head().await.unwrap().0);
}

/// The test binary's scratch server with one fresh database (and its name),
/// or None when PostgreSQL is not installed (and not required).
async fn server() -> Option<(&'static Scratch, String)> {
    let pg = Scratch::shared()?;
    let database = format!("t{}", uuid::Uuid::now_v7().simple());
    pg.ensure_database(&database).await;
    Some((pg, database))
}

async fn versions(pg: &Scratch, database: &str) -> Vec<i32> {
    let client = connect(&pg.target(database)).await.unwrap();
    client
        .query("SELECT version FROM schakel_schema ORDER BY version", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

async fn has_table(pg: &Scratch, database: &str, table: &str) -> bool {
    let client = connect(&pg.target(database)).await.unwrap();
    client
        .query_opt(
            "SELECT 1 FROM information_schema.tables WHERE table_name = $1",
            &[&table],
        )
        .await
        .unwrap()
        .is_some()
}

#[tokio::test]
async fn migrations_apply_once_and_a_second_start_applies_nothing() {
    let Some((pg, db)) = server().await else {
        return;
    };
    let mut client = connect(&pg.target(&db)).await.unwrap();
    let applied = migrate(&mut client, &db, MIGRATIONS).await.unwrap();
    assert_eq!(applied, (1..=latest()).collect::<Vec<_>>());
    for table in [
        "participants",
        "messages",
        "payloads",
        "receipts",
        "audit",
        "audit_head",
        "consents",
        "notices",
    ] {
        assert!(has_table(pg, &db, table).await, "table {table} is missing");
    }
    // The chain's head exists from the start, for the first append to lock.
    let head = client
        .query_one("SELECT seq, hash FROM audit_head", &[])
        .await
        .unwrap();
    assert_eq!(head.get::<_, i64>(0), 0);
    assert_eq!(head.get::<_, Vec<u8>>(1), vec![0u8; 32]);
    assert!(
        migrate(&mut client, &db, MIGRATIONS)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(versions(pg, &db).await, (1..=latest()).collect::<Vec<_>>());
}

#[tokio::test]
async fn instances_starting_at_once_apply_each_migration_once() {
    let Some((pg, db)) = server().await else {
        return;
    };
    let mut a = connect(&pg.target(&db)).await.unwrap();
    let mut b = connect(&pg.target(&db)).await.unwrap();
    let (ra, rb) = tokio::join!(
        migrate(&mut a, &db, MIGRATIONS),
        migrate(&mut b, &db, MIGRATIONS)
    );
    let mut all = ra.unwrap();
    all.extend(rb.unwrap());
    assert_eq!(
        all,
        (1..=latest()).collect::<Vec<_>>(),
        "each migration applied by exactly one instance"
    );
    assert_eq!(versions(pg, &db).await, (1..=latest()).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_gateway_is_refused_and_left_as_it_is() {
    let Some((pg, db)) = server().await else {
        return;
    };
    let mut client = connect(&pg.target(&db)).await.unwrap();
    let mut newer = MIGRATIONS.to_vec();
    newer.push(Migration {
        version: latest() + 1,
        sql: "CREATE TABLE from_the_future (x integer)",
    });
    migrate(&mut client, &db, &newer).await.unwrap();
    let e = migrate(&mut client, &db, MIGRATIONS)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("format version {}", latest() + 1))
            && e.contains(&format!("versions up to {}", latest()))
            && e.contains(&format!("database {db}")),
        "{e}"
    );
    assert!(has_table(pg, &db, "from_the_future").await);
    assert_eq!(versions(pg, &db).await.last(), Some(&(latest() + 1)));
}

#[tokio::test]
async fn a_failing_migration_leaves_the_database_as_it_was() {
    let Some((pg, db)) = server().await else {
        return;
    };
    let mut client = connect(&pg.target(&db)).await.unwrap();
    let mut broken = MIGRATIONS.to_vec();
    broken.push(Migration {
        version: latest() + 1,
        sql: "CREATE TABLE half_done (x integer); SELECT no_such_column FROM half_done",
    });
    let e = migrate(&mut client, &db, &broken)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("schema migration {}", latest() + 1)) && e.contains("no_such_column"),
        "{e}"
    );
    // All or nothing: not even the migrations before the broken one stayed.
    assert!(!has_table(pg, &db, "messages").await);
    assert!(!has_table(pg, &db, "half_done").await);
    assert_eq!(
        migrate(&mut client, &db, MIGRATIONS).await.unwrap(),
        (1..=latest()).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn the_database_server_is_checked_against_the_operators_ca() {
    let Some((pg, db)) = server().await else {
        return;
    };
    // Another certificate, as a man in the middle would present.
    let dir = tempfile::tempdir().unwrap();
    let other_file = dir.path().join("other.pem");
    std::fs::write(&other_file, super::scratch::self_signed().unwrap().0).unwrap();
    let wrong = Target {
        ca_file: Some(other_file),
        ..pg.target(&db)
    };
    let e = connect(&wrong).await.unwrap_err().to_string();
    assert!(e.contains("certificate"), "{e}");
    // A CA file that holds no certificate is named as such.
    let empty_file = dir.path().join("empty.pem");
    std::fs::write(&empty_file, "").unwrap();
    let empty = Target {
        ca_file: Some(empty_file),
        ..pg.target(&db)
    };
    let e = connect(&empty).await.unwrap_err().to_string();
    assert!(e.contains("holds no usable certificate"), "{e}");
    // The right one connects, over TLS.
    let client = connect(&pg.target(&db)).await.unwrap();
    assert!(over_tls(&client).await, "the connection does not use TLS");
}

#[tokio::test]
async fn a_unix_socket_needs_no_tls_and_no_ca() {
    let Some(pg) = Scratch::shared() else {
        return;
    };
    // No sslmode: taken as require over TCP, but a socket has no TLS.
    let client = connect(&pg.socket_target("postgres")).await.unwrap();
    let one: i32 = client.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
}

/// A store of its own on the shared server, and its database's name.
async fn store() -> Option<(super::PostgresStore, String)> {
    let (pg, db) = server().await?;
    let keys = tempfile::tempdir().unwrap();
    let key = crate::crypto::SigningKey::load_or_create(keys.path()).unwrap();
    let store = super::PostgresStore::open(
        pg.target(&db),
        std::sync::Arc::new(key),
        crate::store::sealing::Sealing::for_tests(keys.path()),
    )
    .await
    .unwrap();
    Some((store, db))
}

/// Ends every connection to `db` but the caller's, as a restart or a
/// failover of the database does.
async fn cut(db: &str) {
    let admin = connect(&Scratch::shared().unwrap().target("postgres"))
        .await
        .unwrap();
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&db],
        )
        .await
        .unwrap();
}

fn draft(n: usize) -> crate::model::Draft {
    crate::model::Draft::new(
        crate::model::Actor::Gateway,
        crate::model::Action::ChildRefsErased,
    )
    .detail(format!("entry {n}"))
}

#[tokio::test]
async fn a_step_that_fails_is_rolled_back_alone_and_its_group_commits() {
    let Some((store, _)) = store().await else {
        return;
    };
    const NOW: i64 = 1_800_000_000_000;
    // Queued together, so that the writer takes them as one group: the
    // failing step writes an entry, then fails, between the others.
    let mut steps: Vec<futures::future::BoxFuture<'_, Result<(), crate::store::StoreError>>> =
        Vec::new();
    for n in 0..10 {
        steps.push(Box::pin(store.append_audit(vec![draft(n)], NOW)));
    }
    steps.push(Box::pin(step!(store, NOW, move |tx| {
        tx.audit(draft(99)).await?;
        Err(crate::store::StoreError::Engine("a step that fails".into()))
    })));
    for n in 10..20 {
        steps.push(Box::pin(store.append_audit(vec![draft(n)], NOW)));
    }
    let results = futures::future::join_all(steps).await;
    assert!(results[10].is_err());
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 20);
    let entries = store.audit_entries(1, 100).await.unwrap();
    assert_eq!(entries.len(), 20);
    assert!(entries.iter().all(|e| e.detail != "entry 99"));
    for (i, pair) in entries.windows(2).enumerate() {
        assert_eq!(pair[1].seq, pair[0].seq + 1, "a gap after entry {i}");
        assert_eq!(pair[1].prev_hash, pair[0].hash(), "a broken link at {i}");
    }
    assert_eq!(store.audit_head().await.unwrap().0, 20);
}

#[tokio::test]
async fn a_lost_connection_is_opened_again_and_no_step_fails_for_it() {
    let Some((store, db)) = store().await else {
        return;
    };
    store.append_audit(vec![draft(1)], 1).await.unwrap();
    cut(&db).await;
    // The writer and the readers find their connections gone, and open
    // new ones; the caller sees nothing of it.
    store.append_audit(vec![draft(2)], 2).await.unwrap();
    assert_eq!(store.audit_entries(1, 10).await.unwrap().len(), 2);
    assert!(store.fault().is_none());
}

#[tokio::test]
async fn while_the_database_refuses_connections_writes_are_refused_and_then_resume() {
    let Some((store, db)) = store().await else {
        return;
    };
    let admin = connect(&Scratch::shared().unwrap().target("postgres"))
        .await
        .unwrap();
    admin
        .batch_execute(&format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS false"))
        .await
        .unwrap();
    cut(&db).await;
    let e = store
        .append_audit(vec![draft(1)], 1)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("could not write to its database")
            && e.contains("Nothing answered ACCEPTED is lost"),
        "{e}"
    );
    assert!(store.fault().is_some(), "the health service reports it");
    admin
        .batch_execute(&format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS true"))
        .await
        .unwrap();
    store.flush().await.unwrap();
    assert!(store.fault().is_none());
    store.append_audit(vec![draft(2)], 2).await.unwrap();
    assert_eq!(store.audit_head().await.unwrap().0, 1);
}

#[tokio::test]
async fn one_gateway_at_a_time_does_the_upkeep_and_another_takes_over_when_it_is_gone() {
    let Some((first, db)) = store().await else {
        return;
    };
    let pg = Scratch::shared().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let key = crate::crypto::SigningKey::load_or_create(keys.path()).unwrap();
    let second = super::PostgresStore::open(
        pg.target(&db),
        std::sync::Arc::new(key),
        crate::store::sealing::Sealing::for_tests(keys.path()),
    )
    .await
    .unwrap();
    assert!(first.upkeep_turn().await.unwrap());
    assert!(!second.upkeep_turn().await.unwrap());
    assert!(first.upkeep_turn().await.unwrap(), "the holder keeps it");
    // The holder's connection is gone (its process died): the lock goes
    // with it, and the other gateway takes the upkeep over.
    cut_one(&db, "pg_try_advisory_lock").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !second.upkeep_turn().await.unwrap() {
        assert!(
            std::time::Instant::now() < deadline,
            "no one took the upkeep over"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(!first.upkeep_turn().await.unwrap(), "one at a time");
}

/// Ends the connection to `db` whose last statement began with `query`
/// (the first one found, the oldest).
async fn cut_one(db: &str, query: &str) {
    let admin = connect(&Scratch::shared().unwrap().target("postgres"))
        .await
        .unwrap();
    let ended: bool = admin
        .query_one(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = $1 AND query LIKE '%' || $2 || '%' AND pid <> pg_backend_pid()
             ORDER BY backend_start LIMIT 1",
            &[&db, &query],
        )
        .await
        .unwrap()
        .get(0);
    assert!(ended);
}

#[tokio::test]
async fn a_group_that_cannot_start_holds_no_lock_and_the_next_one_starts_afresh() {
    let Some((store, db)) = store().await else {
        return;
    };
    let admin = connect(&Scratch::shared().unwrap().target(&db))
        .await
        .unwrap();
    admin
        .batch_execute("UPDATE audit_head SET hash = '\\x0102'")
        .await
        .unwrap();
    let e = store.append_audit(vec![draft(1)], 1).await.unwrap_err();
    assert!(e.to_string().contains("not 32 bytes"), "{e}");
    // Had the failed group kept its transaction, it would still hold the
    // head row, and another instance would wait for it for ever.
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        admin.batch_execute(&format!(
            "UPDATE audit_head SET hash = '\\x{}'",
            "00".repeat(32)
        )),
    )
    .await
    .expect("the head row is free")
    .unwrap();
    store.append_audit(vec![draft(2)], 2).await.unwrap();
    assert_eq!(store.audit_head().await.unwrap().0, 1);
}

#[tokio::test]
async fn a_url_with_sslmode_verify_full_connects_over_checked_tls() {
    let Some((pg, db)) = server().await else {
        return;
    };
    let mut target = pg.target(&db);
    target.url = format!("{}?sslmode=verify-full", target.url);
    let client = connect(&target)
        .await
        .expect("verify-full is what operators write");
    assert!(over_tls(&client).await, "the connection is over TLS");
    // Without the CA the server's certificate cannot be checked: refused.
    target.ca_file = None;
    assert!(connect(&target).await.is_err());
}
