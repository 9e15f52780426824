//! A case as the parties live it ("one child, one family, one plan"): the
//! organisations that take part in it with a basis of their own, each of
//! which sees the whole case while it does. The organisations that sent or
//! received one of its messages see those messages whether or not they are
//! parties.

use serde::{Deserialize, Serialize};

use super::ids::{CaseId, Oin};
use super::message::LegalBasis;
use crate::crypto::{ChildRef, Digest};

/// An organisation taking part in a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    /// The organisation.
    pub oin: Oin,
    /// Why it may see the case: a consent naming it, or a statute.
    pub basis: LegalBasis,
    /// Who added it.
    pub added_by: Oin,
    /// When it was added (Unix ms).
    pub joined_at_ms: i64,
    /// When it left or was removed (Unix ms); its view of the case ended
    /// then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_at_ms: Option<i64>,
    /// Who ended its part: itself, or the party that added it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_by: Option<Oin>,
}

impl Party {
    /// Whether it takes part now.
    pub fn is_current(&self) -> bool {
        self.left_at_ms.is_none()
    }
}

/// The organisation that coordinates a case (regisseur), as the parents
/// agreed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coordinator {
    /// The organisation.
    pub oin: Oin,
    /// The consent that records the parents' agreement.
    pub basis: LegalBasis,
    /// Who recorded it.
    pub set_by: Oin,
    /// Since when (Unix ms).
    pub since_ms: i64,
}

/// A version of a case's plan, as first shared. Its copies are the case's
/// messages of kind plan with this version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanVersion {
    /// The version, from 1.
    pub version: u32,
    /// Who shared it.
    pub shared_by: Oin,
    /// When it was first shared (Unix ms).
    pub shared_at_ms: i64,
    /// The digest of its payload: every copy of it is the same document.
    pub payload_digest: Digest,
}

/// What the gateway keeps of a case besides its messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseRecord {
    /// The case, as the gateway gave it to its first message.
    pub id: CaseId,
    /// The child the case is about, as its messages name it (sealed with
    /// the record's term).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_ref: Option<ChildRef>,
    /// When the record was made (Unix ms).
    pub created_at_ms: i64,
    /// When it last changed (Unix ms): its term counts from then.
    pub updated_at_ms: i64,
    /// Its parties, current and past, in the order they joined.
    #[serde(default)]
    pub parties: Vec<Party>,
    /// Who coordinates it, once the parents agreed on one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coordinator: Option<Coordinator>,
    /// The versions of its plan, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plans: Vec<PlanVersion>,
}

impl CaseRecord {
    /// A case with no parties yet, about `child_ref`.
    pub fn new(id: CaseId, child_ref: Option<ChildRef>, now_ms: i64) -> Self {
        Self {
            id,
            child_ref,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
            parties: Vec::new(),
            coordinator: None,
            plans: Vec::new(),
        }
    }

    /// The current party `oin`, if it takes part now.
    pub fn party(&self, oin: &Oin) -> Option<&Party> {
        self.parties
            .iter()
            .find(|p| p.oin == *oin && p.is_current())
    }
}
