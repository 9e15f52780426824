//! The sled store's reads of the audit log's tree, for proofs
//! ([`crate::store::tree_proofs`]): the heads under `H`, the nodes under
//! `T` ([`super::tree`] writes them).

use std::collections::HashMap;

use async_trait::async_trait;
use schakel_proto::merkle::Hash;

use super::SledStore;
use super::keys::{TREE_HEAD, decode};
use super::tree::{head_key, node_in, node_place};
use crate::model::TreeHead;
use crate::store::{Position, StoreError, TreeReads};

#[async_trait]
impl TreeReads for SledStore {
    async fn heads_over(&self, leaves: &[u64]) -> Result<Vec<Option<TreeHead>>, StoreError> {
        leaves
            .iter()
            .map(|leaf| {
                let Some(kv) = self.tree().range(head_key(leaf + 1)..).next() else {
                    return Ok(None);
                };
                let (k, v) = kv?;
                match k.first() == Some(&TREE_HEAD) {
                    true => Ok(Some(decode(&k, &v)?)),
                    false => Ok(None),
                }
            })
            .collect()
    }

    async fn tree_head(&self, size: Option<u64>) -> Result<Option<TreeHead>, StoreError> {
        let found = match size {
            Some(size) => self
                .tree()
                .get(head_key(size))?
                .map(|v| (head_key(size).into(), v)),
            None => self
                .tree()
                .scan_prefix([TREE_HEAD])
                .next_back()
                .transpose()?,
        };
        found
            .map(|(k, v): (::sled::IVec, ::sled::IVec)| decode(&k, &v))
            .transpose()
    }

    async fn tree_head_within(&self, max_size: u64) -> Result<Option<TreeHead>, StoreError> {
        let found = self
            .tree()
            .range(head_key(0)..=head_key(max_size))
            .next_back()
            .transpose()?;
        found.map(|(k, v)| decode(&k, &v)).transpose()
    }

    async fn nodes_at(
        &self,
        positions: &[Position],
    ) -> Result<HashMap<Position, Hash>, StoreError> {
        let mut out = HashMap::with_capacity(positions.len());
        for &(level, index) in positions {
            let Some((k, offset)) = node_place(level, index) else {
                continue;
            };
            let value = self.inner.leaf_cache.get(self.tree(), &k)?;
            if let Some(h) = value.as_deref().and_then(|v| node_in(v, offset)) {
                out.insert((level, index), h);
            }
        }
        Ok(out)
    }
}
