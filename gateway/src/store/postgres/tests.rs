//! The PostgreSQL engine against a real server ([`Scratch`]).

use super::connection::{Target, connect};
use super::schema::{MIGRATIONS, Migration, latest, migrate};
use super::scratch::Scratch;

/// A scratch server with one fresh database, or None when PostgreSQL is not
/// installed (and not required).
async fn server(database: &str) -> Option<Scratch> {
    let pg = Scratch::start()?;
    pg.create_database(database).await;
    Some(pg)
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
    let Some(pg) = server("store").await else {
        return;
    };
    let mut client = connect(&pg.target("store")).await.unwrap();
    let applied = migrate(&mut client, "store", MIGRATIONS).await.unwrap();
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
        assert!(
            has_table(&pg, "store", table).await,
            "table {table} is missing"
        );
    }
    // The chain's head exists from the start, for the first append to lock.
    let head = client
        .query_one("SELECT seq, hash FROM audit_head", &[])
        .await
        .unwrap();
    assert_eq!(head.get::<_, i64>(0), 0);
    assert_eq!(head.get::<_, Vec<u8>>(1), vec![0u8; 32]);
    assert!(
        migrate(&mut client, "store", MIGRATIONS)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        versions(&pg, "store").await,
        (1..=latest()).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn instances_starting_at_once_apply_each_migration_once() {
    let Some(pg) = server("store").await else {
        return;
    };
    let mut a = connect(&pg.target("store")).await.unwrap();
    let mut b = connect(&pg.target("store")).await.unwrap();
    let (ra, rb) = tokio::join!(
        migrate(&mut a, "store", MIGRATIONS),
        migrate(&mut b, "store", MIGRATIONS)
    );
    let mut all = ra.unwrap();
    all.extend(rb.unwrap());
    assert_eq!(
        all,
        (1..=latest()).collect::<Vec<_>>(),
        "each migration applied by exactly one instance"
    );
    assert_eq!(
        versions(&pg, "store").await,
        (1..=latest()).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_gateway_is_refused_and_left_as_it_is() {
    let Some(pg) = server("store").await else {
        return;
    };
    let mut client = connect(&pg.target("store")).await.unwrap();
    let mut newer = MIGRATIONS.to_vec();
    newer.push(Migration {
        version: latest() + 1,
        sql: "CREATE TABLE from_the_future (x integer)",
    });
    migrate(&mut client, "store", &newer).await.unwrap();
    let e = migrate(&mut client, "store", MIGRATIONS)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("format version {}", latest() + 1))
            && e.contains(&format!("versions up to {}", latest()))
            && e.contains("database store"),
        "{e}"
    );
    assert!(has_table(&pg, "store", "from_the_future").await);
    assert_eq!(versions(&pg, "store").await.last(), Some(&(latest() + 1)));
}

#[tokio::test]
async fn a_failing_migration_leaves_the_database_as_it_was() {
    let Some(pg) = server("store").await else {
        return;
    };
    let mut client = connect(&pg.target("store")).await.unwrap();
    let mut broken = MIGRATIONS.to_vec();
    broken.push(Migration {
        version: latest() + 1,
        sql: "CREATE TABLE half_done (x integer); SELECT no_such_column FROM half_done",
    });
    let e = migrate(&mut client, "store", &broken)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("schema migration {}", latest() + 1)) && e.contains("no_such_column"),
        "{e}"
    );
    // All or nothing: not even the migrations before the broken one stayed.
    assert!(!has_table(&pg, "store", "messages").await);
    assert!(!has_table(&pg, "store", "half_done").await);
    assert_eq!(
        migrate(&mut client, "store", MIGRATIONS).await.unwrap(),
        (1..=latest()).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn the_database_server_is_checked_against_the_operators_ca() {
    let Some(pg) = server("store").await else {
        return;
    };
    // Another certificate, as a man in the middle would present.
    let dir = tempfile::tempdir().unwrap();
    let other_file = dir.path().join("other.pem");
    std::fs::write(&other_file, super::scratch::self_signed().unwrap().0).unwrap();
    let wrong = Target {
        ca_file: Some(other_file),
        ..pg.target("store")
    };
    let e = connect(&wrong).await.unwrap_err().to_string();
    assert!(e.contains("certificate"), "{e}");
    // A CA file that holds no certificate is named as such.
    let empty_file = dir.path().join("empty.pem");
    std::fs::write(&empty_file, "").unwrap();
    let empty = Target {
        ca_file: Some(empty_file),
        ..pg.target("store")
    };
    let e = connect(&empty).await.unwrap_err().to_string();
    assert!(e.contains("holds no usable certificate"), "{e}");
    // The right one connects, over TLS.
    let client = connect(&pg.target("store")).await.unwrap();
    let ssl: bool = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(ssl, "the connection does not use TLS");
}

#[tokio::test]
async fn a_unix_socket_needs_no_tls_and_no_ca() {
    let Some(pg) = Scratch::start() else {
        return;
    };
    // No sslmode: taken as require over TCP, but a socket has no TLS.
    let client = connect(&pg.socket_target("postgres")).await.unwrap();
    let one: i32 = client.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
}
