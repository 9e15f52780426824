//! The records a database of schema version 2 holds in plain, sealed once
//! after the migration to version 3 ([`crate::store::sealing`]): every
//! message, consent and audit entry is written again sealed, the index rows
//! by child are made again blinded, in one transaction that the first
//! gateway to start takes (others wait on its row lock and find it done).
//! The tables are then rewritten by `VACUUM FULL`, so that no dead tuple of
//! a plain record is left in their files; PostgreSQL's WAL and its archives
//! are the operator's to keep short (docs/OPERATIONS.md).

use tokio_postgres::types::Json;

use super::session::Session;
use super::tx::{about_keys, json};
use crate::model::{ConsentRecord, Entry, MessageRecord};
use crate::store::StoreError;
use crate::store::sealing::{Identifying, Sealing};

/// Records per page of the walk.
const PAGE: i64 = 1000;

/// Seals what `db` still holds in plain, if anything; returns how many
/// records it sealed.
pub async fn seal_plain_records(db: &Session, sealing: &Sealing) -> Result<u64, StoreError> {
    db.batch("BEGIN ISOLATION LEVEL READ COMMITTED").await?;
    let done: bool = db
        .one("SELECT done FROM store_sealing FOR UPDATE", &[])
        .await?
        .get(0);
    if done {
        db.batch("COMMIT").await?;
        return Ok(0);
    }
    let mut sealed = 0;
    sealed += reseal::<MessageRecord>(
        db,
        sealing,
        "SELECT id, record FROM messages WHERE id > $1 ORDER BY id LIMIT $2",
        "UPDATE messages SET record = $2 WHERE id = $1",
    )
    .await?;
    sealed += reseal::<ConsentRecord>(
        db,
        sealing,
        "SELECT id, record FROM consents WHERE id > $1 ORDER BY id LIMIT $2",
        "UPDATE consents SET record = $2 WHERE id = $1",
    )
    .await?;
    // The index rows by child of version 2: `h` and the plain reference.
    db.execute(
        "DELETE FROM audit_about WHERE about >= '\\x68'::bytea AND about < '\\x69'::bytea AND length(about) = 33",
        &[],
    )
    .await?;
    let mut after = 0i64;
    loop {
        let rows = db
            .query(
                "SELECT a.seq, a.entry, e.retention_from_ms FROM audit a
                 LEFT JOIN audit_erase e ON e.seq = a.seq
                 WHERE a.seq > $1 ORDER BY a.seq LIMIT $2",
                &[&after, &PAGE],
            )
            .await?;
        let Some(last) = rows.last() else { break };
        after = last.get(0);
        for row in &rows {
            let seq: i64 = row.get(0);
            let mut entry: Entry = sealing.from_value(b"audit", json(row, 1, "audit entry")?)?;
            // A signal's entry counts from the signal's lapse, which
            // version 2 kept in its erasure schedule only.
            entry.retention_from_ms = entry.retention_from_ms.or(row.get(2));
            db.execute(
                "UPDATE audit SET entry = $2 WHERE seq = $1",
                &[&seq, &Json(&sealing.to_value(&entry)?)],
            )
            .await?;
            db.execute(
                "INSERT INTO audit_about (about, seq) SELECT unnest($1::bytea[]), $2 ON CONFLICT DO NOTHING",
                &[&about_keys(&entry, sealing), &seq],
            )
            .await?;
            sealed += 1;
        }
    }
    db.execute("UPDATE store_sealing SET done = true", &[])
        .await?;
    db.batch("COMMIT").await?;
    db.batch("VACUUM FULL messages, consents, audit, audit_about")
        .await?;
    Ok(sealed)
}

/// Writes every record `select` pages through (by a text id) again, sealed.
async fn reseal<T: Identifying>(
    db: &Session,
    sealing: &Sealing,
    select: &'static str,
    update: &'static str,
) -> Result<u64, StoreError> {
    let (mut after, mut sealed) = (String::new(), 0);
    loop {
        let rows = db.query(select, &[&after, &PAGE]).await?;
        let Some(last) = rows.last() else {
            return Ok(sealed);
        };
        after = last.get(0);
        for row in &rows {
            let id: String = row.get(0);
            let record: T = sealing.from_value(id.as_bytes(), json(row, 1, &id)?)?;
            db.execute(update, &[&id, &Json(&sealing.to_value(&record)?)])
                .await?;
            sealed += 1;
        }
    }
}
