//! The PostgreSQL store's schema: versioned migrations kept in the
//! repository (`gateway/migrations/postgres`), applied in order when a
//! gateway starts, in one transaction under an advisory lock, so that
//! instances starting at once apply each migration once.

use tokio_postgres::Client;

use super::connection::{db_error, detail};
use crate::store::StoreError;

/// One migration: the schema version it brings the database to, and the
/// SQL that does it.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The version after it.
    pub version: i32,
    /// Its statements.
    pub sql: &'static str,
}

/// Every migration, oldest first. A released migration is never edited: a
/// change is a new one.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: include_str!("../../../migrations/postgres/0001_store.sql"),
    },
    Migration {
        version: 2,
        sql: include_str!("../../../migrations/postgres/0002_held_bytes.sql"),
    },
    Migration {
        version: 3,
        sql: include_str!("../../../migrations/postgres/0003_sealed_records.sql"),
    },
    Migration {
        version: 4,
        sql: include_str!("../../../migrations/postgres/0004_cases.sql"),
    },
    Migration {
        version: 5,
        sql: include_str!("../../../migrations/postgres/0005_audit_tree.sql"),
    },
];

/// The advisory lock migrations run under ("SCHK" and 1): held to the end
/// of the migrating transaction.
const MIGRATION_LOCK: i64 = 0x5343_484b_0000_0001;

/// The schema version this gateway writes.
pub fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Brings the database of `client` (named `database` in messages) to
/// [`latest`], applying `migrations` beyond its version; returns the
/// versions applied. A database migrated by a newer gateway is refused,
/// and nothing is changed.
pub async fn migrate(
    client: &mut Client,
    database: &str,
    migrations: &[Migration],
) -> Result<Vec<i32>, StoreError> {
    // Read committed: the version is read after the lock is granted, not
    // from a snapshot taken before it (as a server whose default isolation
    // is repeatable read would otherwise do).
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::ReadCommitted)
        .start()
        .await
        .map_err(db_error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db_error)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schakel_schema (
             version    integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await
    .map_err(db_error)?;
    let found: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM schakel_schema", &[])
        .await
        .map_err(db_error)?
        .get(0);
    let supported = migrations.last().map_or(0, |m| m.version);
    if found > supported {
        return Err(StoreError::TooNew {
            path: format!("database {database}"),
            found: found as u64,
            supported: supported as u64,
        });
    }
    let mut applied = Vec::new();
    for m in migrations.iter().filter(|m| m.version > found) {
        tx.batch_execute(m.sql).await.map_err(|e| {
            StoreError::Engine(format!(
                "PostgreSQL: schema migration {}: {}",
                m.version,
                detail(&e)
            ))
        })?;
        tx.execute(
            "INSERT INTO schakel_schema (version) VALUES ($1)",
            &[&m.version],
        )
        .await
        .map_err(db_error)?;
        applied.push(m.version);
    }
    tx.commit().await.map_err(db_error)?;
    Ok(applied)
}
