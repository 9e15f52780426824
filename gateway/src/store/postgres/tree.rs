//! The audit log's tree in PostgreSQL: `audit_nodes` holds every complete
//! subtree's hash, `tree_heads` a signed head per group that added
//! entries, and the `audit_head` row the tree's right edge beside the
//! chain's head, so that the group that locks the row appends to the tree
//! where the last group (of any instance) left it. A group's nodes, its
//! head and the row are written in the group's transaction, at its end.

use schakel_proto::merkle::{Frontier, Hash};
use tokio_postgres::types::Json;

use super::session::Session;
use crate::crypto::Signer;
use crate::model::{Entry, TreeHead};
use crate::store::StoreError;
use crate::store::sealing::Sealing;

/// Entries per page of the build.
const PAGE: i64 = 1000;

fn corrupt(message: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        key: "audit_head".into(),
        message: message.into(),
    }
}

/// The tree's right edge as the `audit_head` row keeps it: the hashes
/// concatenated, largest subtree first.
pub fn edge_bytes(frontier: &Frontier) -> Vec<u8> {
    frontier.edge().concat()
}

/// The frontier of a tree of `size` leaves from the row's `edge`.
pub fn frontier_of(size: u64, edge: &[u8]) -> Result<Frontier, StoreError> {
    let hashes = edge
        .chunks(32)
        .map(|c| {
            c.try_into()
                .map_err(|_| corrupt("the tree's edge is not whole hashes"))
        })
        .collect::<Result<Vec<Hash>, _>>()?;
    Frontier::from_parts(size, hashes)
        .ok_or_else(|| corrupt(format!("the tree's edge does not fit {size} leaves")))
}

/// Writes `nodes` (level, index, hash) in one statement.
pub async fn write_nodes(db: &Session, nodes: &[(u32, u64, Hash)]) -> Result<(), StoreError> {
    if nodes.is_empty() {
        return Ok(());
    }
    let levels: Vec<i16> = nodes.iter().map(|n| n.0 as i16).collect();
    let indexes: Vec<i64> = nodes.iter().map(|n| n.1 as i64).collect();
    let hashes: Vec<&[u8]> = nodes.iter().map(|n| &n.2[..]).collect();
    db.execute(
        "INSERT INTO audit_nodes (level, idx, hash) SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])",
        &[&levels, &indexes, &hashes],
    )
    .await?;
    Ok(())
}

/// Signs the head of `frontier` at `now_ms` and writes it.
pub async fn write_head(
    db: &Session,
    frontier: &Frontier,
    first_seq: u64,
    now_ms: i64,
    signer: &dyn Signer,
) -> Result<(), StoreError> {
    let head = TreeHead::sign(frontier.size(), frontier.root(), first_seq, now_ms, signer);
    db.execute(
        "INSERT INTO tree_heads (size, head) VALUES ($1, $2)",
        &[&(head.size as i64), &Json(&head)],
    )
    .await?;
    Ok(())
}

/// Sets the row's right edge from the nodes kept, for the tree as far as
/// the chain's head (after a copy wrote the nodes as they were).
pub async fn set_edge(db: &Session) -> Result<(), StoreError> {
    let row = db
        .one("SELECT seq, tree_first FROM audit_head", &[])
        .await?;
    let (seq, first): (i64, Option<i64>) = (row.get(0), row.get(1));
    let size = (seq + 1).saturating_sub(first.unwrap_or(1)).max(0) as u64;
    let positions = crate::store::tree_proofs::edge_positions(size);
    let levels: Vec<i16> = positions.iter().map(|p| p.0 as i16).collect();
    let indexes: Vec<i64> = positions.iter().map(|p| p.1 as i64).collect();
    let rows = db
        .query(
            "SELECT n.hash FROM unnest($1::smallint[], $2::bigint[]) WITH ORDINALITY AS w(level, idx, o)
             JOIN audit_nodes n ON n.level = w.level AND n.idx = w.idx ORDER BY w.o",
            &[&levels, &indexes],
        )
        .await?;
    let edge: Vec<u8> = rows.iter().flat_map(|r| r.get::<_, Vec<u8>>(0)).collect();
    frontier_of(size, &edge)?;
    db.execute("UPDATE audit_head SET tree_edge = $1", &[&edge])
        .await?;
    Ok(())
}

/// Builds the tree over the entries kept, if the row says it is still to
/// be built (a database of schema version 4), in one transaction that the
/// first gateway to start takes (others wait on the row and find it done).
/// Nodes are derived from the entries alone, so a build that is
/// interrupted is done again whole. Returns the leaves, or None when there
/// was nothing to do.
pub async fn build(db: &Session, sealing: &Sealing) -> Result<Option<u64>, StoreError> {
    db.batch("BEGIN ISOLATION LEVEL READ COMMITTED").await?;
    let row = db
        .one(
            "SELECT tree_first, start_seq FROM audit_head FOR UPDATE",
            &[],
        )
        .await?;
    if row.get::<_, Option<i64>>(0).is_some() {
        db.batch("COMMIT").await?;
        return Ok(None);
    }
    let start: i64 = row.get(1);
    let mut frontier = Frontier::default();
    let mut first: Option<i64> = None;
    let mut after = start - 1;
    loop {
        let rows = db
            .query(
                "SELECT seq, entry FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&after, &PAGE],
            )
            .await?;
        let Some(last) = rows.last() else { break };
        after = last.get(0);
        let mut nodes = Vec::new();
        for row in &rows {
            first.get_or_insert(row.get(0));
            let value: Json<serde_json::Value> =
                row.try_get(1).map_err(|e| StoreError::Corrupt {
                    key: "audit entry".into(),
                    message: super::connection::detail(&e),
                })?;
            let entry: Entry = sealing.from_value(b"audit", value.0)?;
            nodes.extend(frontier.push(entry.leaf(&entry.hash())));
        }
        write_nodes(db, &nodes).await?;
    }
    db.execute(
        "UPDATE audit_head SET tree_first = $1, tree_edge = $2, tree_size = seq - $1::bigint + 1",
        &[&first.unwrap_or(start), &edge_bytes(&frontier)],
    )
    .await?;
    db.batch("COMMIT").await?;
    Ok(Some(frontier.size()))
}
