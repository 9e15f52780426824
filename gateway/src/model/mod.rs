//! The records the gateway keeps and the enums they are made of: participant,
//! message, consent, audit entry, and the identifiers that name them. Data
//! and the conversions to the contract's wire form only; no rule that decides
//! anything, and no I/O.

mod audit;
mod case;
mod chain;
mod consent;
pub mod consent_wire;
#[cfg(test)]
pub(crate) mod examples;
mod ids;
mod key_check;
mod kind;
mod message;
mod notice;
mod participant;
mod signal;
mod statute;
mod tree;
pub mod wire;

pub use audit::{Action, Checkpoint, Draft, ENTRY_FORMAT, Entry, GENESIS_HASH, Range, withheld};
pub use case::{CaseRecord, Coordinator, Party, PlanVersion};
pub use consent::{
    AgeMark, ConsentRecord, ConsentState, Consenter, Giver, Obtained, Purpose, iso_date,
};
pub use ids::{
    Actor, BadId, CaseId, ConsentId, GATEWAY_ACTOR, GATEWAY_OIN, MessageId, OIN_RULE, Oin,
    UUID_RULE, empty_as_none,
};
pub use key_check::KeyCheck;
pub use kind::Kind;
pub use message::{LegalBasis, MessageHead, MessageRecord, Outcome, RejectReason, State, Terms};
pub use notice::{Condition, NoticeDraft, NoticeType, Scheduled};
pub use participant::{Codes, OrgKind, Participant, Sector, Status};
pub use signal::{SignalChange, SignalFacts, SignalRef};
pub use statute::{Law, Statute};
pub use tree::TreeHead;
