//! The audit log's signed tree heads, for every participant: the newest
//! (or the one of a given size) and the proof that it extends a tree the
//! caller saw before. With it each participant can witness that the log is
//! only ever appended to: an operator who rewrote or dropped entries
//! offline can sign new heads, but not heads that extend the ones already
//! handed out (docs/INTEGRATION.md, "Witnessing the audit log").

use std::sync::Arc;

use schakel_proto::merkle::Hash;

use super::ServiceError;
use crate::model::TreeHead;
use crate::policy::invalid;
use crate::store::{Store, tree_proofs};

/// A head, and the consistency proof asked for with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadWithProof {
    /// The head.
    pub head: TreeHead,
    /// The proof that it extends the tree of the size asked about (empty
    /// when none was asked for, or the sizes are equal).
    pub proof: Vec<Hash>,
}

/// The tree heads over the store.
#[derive(Clone)]
pub struct TreeHeads {
    store: Arc<dyn Store>,
}

impl TreeHeads {
    /// The heads `store` signed.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// The head of a tree of `size` leaves (the newest with None), with the
    /// proof that it extends the tree of `extends` leaves, if asked.
    pub async fn head(
        &self,
        size: Option<u64>,
        extends: Option<u64>,
    ) -> Result<HeadWithProof, ServiceError> {
        let store = self.store.as_ref();
        let head = store.tree_head(size).await.map_err(super::Internal::from)?;
        let head = match (head, size) {
            (Some(head), _) => head,
            (None, None) => {
                return Err(ServiceError::NotFound(
                    "the audit log has no signed tree head yet: it holds no entry made since it became a tree; ask again after the next write".into(),
                ));
            }
            (None, Some(size)) => {
                return Err(ServiceError::NotFound(format!(
                    "size: the gateway signed no tree head of {size} leaves (it signs one per group of writes, of the size the group leaves); ask for size 0, the newest, with extends_size set to the size you hold"
                )));
            }
        };
        let proof = match extends {
            None => Vec::new(),
            Some(0) => Vec::new(),
            Some(first) if first > head.size => {
                return Err(invalid(
                    "extends_size",
                    format!(
                        "the tree you hold ({first} leaves) is larger than the head asked for ({} leaves): ask for size 0, the newest, or a size at least {first}",
                        head.size
                    ),
                )
                .into());
            }
            Some(first) => tree_proofs::consistency(store, first, head.size)
                .await
                .map_err(super::Internal::from)?,
        };
        Ok(HeadWithProof { head, proof })
    }
}
