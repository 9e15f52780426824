//! Proofs from the audit log's tree, made the same way by every engine:
//! an engine answers the reads of [`TreeReads`] (the heads it signed, the
//! nodes it kept), and the proofs are made here from what they return.
//!
//! Which nodes a proof needs follows from the tree's size and the leaf's
//! place alone, not from any hash ([`positions`]), so an engine reads all
//! the nodes of a batch of proofs in one go (one query in PostgreSQL).

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use schakel_proto::merkle::{self, Hash, Nodes};
use schakel_proto::v1 as pb;

use crate::model::TreeHead;
use crate::store::{Position, StoreError, TreeReads};

/// Nodes read by position.
struct Read(HashMap<Position, Hash>);

impl Nodes for Read {
    fn perfect(&self, level: u32, index: u64) -> Option<Hash> {
        self.0.get(&(level, index)).copied()
    }
}

/// Notes the positions a proof asks for, answering each with zeros.
#[derive(Default)]
struct Asked(RefCell<Vec<Position>>);

impl Nodes for Asked {
    fn perfect(&self, level: u32, index: u64) -> Option<Hash> {
        self.0.borrow_mut().push((level, index));
        Some([0; 32])
    }
}

/// The nodes the inclusion proof of leaf `index` in the tree of `size`
/// leaves is made of.
pub fn positions(index: u64, size: u64) -> Vec<Position> {
    let asked = Asked::default();
    let _ = merkle::inclusion_proof(&asked, index, size);
    asked.0.into_inner()
}

/// The nodes the consistency proof from the tree of `first` leaves to the
/// tree of `second` is made of.
pub fn consistency_positions(first: u64, second: u64) -> Vec<Position> {
    let asked = Asked::default();
    let _ = merkle::consistency_proof(&asked, first, second);
    asked.0.into_inner()
}

/// The nodes of the right edge of a tree of `size` leaves, largest first.
pub fn edge_positions(size: u64) -> Vec<Position> {
    let asked = Asked::default();
    let _ = merkle::Frontier::from_nodes(&asked, size);
    asked.0.into_inner()
}

/// A receipt's proof: the head and the path to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// The first head signed over the receipt's leaf.
    pub head: TreeHead,
    /// The inclusion proof, nearest the leaf first.
    pub path: Vec<Hash>,
}

/// The leaf at which `r` is still to be proved: a receipt made since the
/// log became a tree (it names its entry's hash) that carries no head yet.
pub fn unproved(r: &pb::Receipt) -> Option<u64> {
    (r.tree_head.is_none() && r.audit_entry_hash.len() == 32).then_some(r.leaf_index)
}

/// Gives `r` its proof among `proofs`, if it is to be proved and has one.
pub fn attach(r: &mut pb::Receipt, proofs: &HashMap<u64, Proof>) {
    let Some(proof) = unproved(r).and_then(|leaf| proofs.get(&leaf)) else {
        return;
    };
    r.inclusion_proof = proof.path.iter().map(|h| h.to_vec()).collect();
    r.tree_head = Some(proof.head.to_wire());
}

fn missing(what: String) -> StoreError {
    StoreError::Corrupt {
        key: "audit tree".into(),
        message: format!("{what} is missing from the audit log's tree"),
    }
}

/// The proofs of `leaves` from `tree`: for each leaf a head covers, the
/// first such head and the path to it.
pub async fn read(
    tree: &(dyn TreeReads + '_),
    mut leaves: Vec<u64>,
) -> Result<HashMap<u64, Proof>, StoreError> {
    leaves.sort_unstable();
    leaves.dedup();
    let heads = tree.heads_over(&leaves).await?;
    let covered: Vec<(u64, TreeHead)> = leaves
        .into_iter()
        .zip(heads)
        .filter_map(|(leaf, head)| Some((leaf, head?)))
        .collect();
    let wanted: BTreeSet<Position> = covered
        .iter()
        .flat_map(|(leaf, head)| positions(*leaf, head.size))
        .collect();
    let nodes = Read(
        tree.nodes_at(&wanted.into_iter().collect::<Vec<_>>())
            .await?,
    );
    covered
        .into_iter()
        .map(|(leaf, head)| {
            let path = merkle::inclusion_proof(&nodes, leaf, head.size)
                .ok_or_else(|| missing(format!("a node of the proof of leaf {leaf}")))?;
            Ok((leaf, Proof { head, path }))
        })
        .collect()
}

/// The consistency proof from the tree of `first` leaves to the tree of
/// `second` leaves, from `tree`'s nodes.
pub async fn consistency(
    tree: &(dyn TreeReads + '_),
    first: u64,
    second: u64,
) -> Result<Vec<Hash>, StoreError> {
    let nodes = Read(tree.nodes_at(&consistency_positions(first, second)).await?);
    merkle::consistency_proof(&nodes, first, second).ok_or_else(|| {
        missing(format!(
            "a node between trees of {first} and {second} leaves"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_asks_for_the_nodes_it_is_made_of_and_no_others() {
        let leaves: Vec<Hash> = (0..13u8).map(|i| merkle::leaf_hash(&[i])).collect();
        for size in 1..=13u64 {
            for index in 0..size {
                let wanted = positions(index, size);
                let read = Read(
                    wanted
                        .iter()
                        .map(|&(l, i)| ((l, i), leaves[..].perfect(l, i).unwrap()))
                        .collect(),
                );
                assert_eq!(
                    merkle::inclusion_proof(&read, index, size),
                    merkle::inclusion_proof(&leaves[..], index, size),
                    "leaf {index} of {size}"
                );
            }
            for first in 1..=size {
                let read = Read(
                    consistency_positions(first, size)
                        .iter()
                        .map(|&(l, i)| ((l, i), leaves[..].perfect(l, i).unwrap()))
                        .collect(),
                );
                assert_eq!(
                    merkle::consistency_proof(&read, first, size),
                    merkle::consistency_proof(&leaves[..], first, size)
                );
            }
        }
    }

    #[test]
    fn only_a_receipt_of_the_tree_without_a_head_is_proved() {
        let mut r = pb::Receipt {
            leaf_index: 4,
            ..Default::default()
        };
        assert_eq!(unproved(&r), None, "made before the tree");
        r.audit_entry_hash = vec![1; 32];
        assert_eq!(unproved(&r), Some(4));
        r.tree_head = Some(pb::TreeHead::default());
        assert_eq!(unproved(&r), None, "proved already");
    }
}
