//! The PostgreSQL store's reads of the audit log's tree, for proofs
//! ([`crate::store::tree_proofs`]): `tree_heads` and `audit_nodes`
//! ([`super::tree`] writes them), each batch of positions in one query.

use std::collections::HashMap;

use async_trait::async_trait;
use schakel_proto::merkle::Hash;

use super::PostgresStore;
use super::tx::json;
use crate::model::TreeHead;
use crate::store::{Position, StoreError, TreeReads};

#[async_trait]
impl TreeReads for PostgresStore {
    async fn heads_over(&self, leaves: &[u64]) -> Result<Vec<Option<TreeHead>>, StoreError> {
        let wanted: Vec<i64> = leaves.iter().map(|&l| l as i64).collect();
        let rows = self
            .reader()
            .await?
            .query(
                "SELECT l, h.head FROM unnest($1::bigint[]) AS l
                 CROSS JOIN LATERAL (SELECT head FROM tree_heads WHERE size > l ORDER BY size LIMIT 1) h",
                &[&wanted],
            )
            .await?;
        let mut found: HashMap<i64, TreeHead> = HashMap::with_capacity(rows.len());
        for row in &rows {
            found.insert(row.get(0), json(row, 1, "tree head")?);
        }
        Ok(wanted.iter().map(|l| found.remove(l)).collect())
    }

    async fn tree_head(&self, size: Option<u64>) -> Result<Option<TreeHead>, StoreError> {
        let db = self.reader().await?;
        let row = match size {
            Some(size) => {
                db.opt(
                    "SELECT head FROM tree_heads WHERE size = $1",
                    &[&(size as i64)],
                )
                .await?
            }
            None => {
                db.opt(
                    "SELECT head FROM tree_heads ORDER BY size DESC LIMIT 1",
                    &[],
                )
                .await?
            }
        };
        row.map(|row| json(&row, 0, "tree head")).transpose()
    }

    async fn tree_head_within(&self, max_size: u64) -> Result<Option<TreeHead>, StoreError> {
        let row = self
            .reader()
            .await?
            .opt(
                "SELECT head FROM tree_heads WHERE size <= $1 ORDER BY size DESC LIMIT 1",
                &[&(max_size as i64)],
            )
            .await?;
        row.map(|row| json(&row, 0, "tree head")).transpose()
    }

    async fn nodes_at(
        &self,
        positions: &[Position],
    ) -> Result<HashMap<Position, Hash>, StoreError> {
        let levels: Vec<i16> = positions.iter().map(|p| p.0 as i16).collect();
        let indexes: Vec<i64> = positions.iter().map(|p| p.1 as i64).collect();
        let rows = self
            .reader()
            .await?
            .query(
                "SELECT n.level, n.idx, n.hash FROM unnest($1::smallint[], $2::bigint[]) AS w(level, idx)
                 JOIN audit_nodes n ON n.level = w.level AND n.idx = w.idx",
                &[&levels, &indexes],
            )
            .await?;
        let mut out = HashMap::with_capacity(rows.len());
        for row in &rows {
            let level: i16 = row.get(0);
            let index: i64 = row.get(1);
            let hash: Vec<u8> = row.get(2);
            if let Ok(h) = hash.try_into() {
                out.insert((level as u32, index as u64), h);
            }
        }
        Ok(out)
    }
}
