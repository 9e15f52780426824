//! The sled store's reads of the audit log's tree, for proofs
//! ([`crate::store::tree_proofs`]): the heads under `H`, the nodes under
//! `T` ([`super::tree`] writes them).

use std::collections::HashMap;

use async_trait::async_trait;
use schakel_proto::merkle::Hash;

use super::SledStore;
use super::keys::decode;
use super::tree::{head_key, node_in, node_place};
use crate::model::TreeHead;
use crate::store::{Position, StoreError, TreeReads};

impl SledStore {
    /// The size of the newest head on disk: no reader sees a head that a
    /// crash could still take back (and the gateway sign again otherwise).
    fn durable_head(&self) -> u64 {
        self.inner
            .durable_head
            .load(std::sync::atomic::Ordering::Acquire)
    }
}

#[async_trait]
impl TreeReads for SledStore {
    async fn heads_over(&self, leaves: &[u64]) -> Result<Vec<Option<TreeHead>>, StoreError> {
        let durable = self.durable_head();
        leaves
            .iter()
            .map(|&leaf| {
                if leaf >= durable {
                    return Ok(None);
                }
                let range = head_key(leaf + 1)..=head_key(durable);
                let Some(kv) = self.tree().range(range).next() else {
                    return Ok(None);
                };
                let (k, v) = kv?;
                Ok(Some(decode(&k, &v)?))
            })
            .collect()
    }

    async fn tree_head(&self, size: Option<u64>) -> Result<Option<TreeHead>, StoreError> {
        let durable = self.durable_head();
        match size {
            Some(size) if size > durable => Ok(None),
            Some(size) => self
                .tree()
                .get(head_key(size))?
                .map(|v| decode(&head_key(size), &v))
                .transpose(),
            None => self.tree_head_within(durable).await,
        }
    }

    async fn tree_head_within(&self, max_size: u64) -> Result<Option<TreeHead>, StoreError> {
        let max_size = max_size.min(self.durable_head());
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
