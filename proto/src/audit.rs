//! The audit chain's canonical encoding and its verifier. They live here,
//! beside the wire types, so that the gateway that writes the chain, its
//! `Verify` call, the offline verifier of the `schakel` CLI and the
//! `schakel-gateway audit verify` command all use one implementation.

use std::collections::HashMap;

use crate::v1::{
    AuditAction, AuditCheckpoint, AuditEntry, LegalBasis, MessageKind, StatutoryBasis, legal_basis,
};

/// Tag that starts an entry's canonical encoding.
pub const ENTRY_TAG: &str = "schakel-audit-v1";
/// Tag that starts a checkpoint's signed encoding.
pub const CHECKPOINT_TAG: &str = "schakel-checkpoint-v1";
/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Unix milliseconds of an optional timestamp.
pub fn time_ms(t: Option<prost_types::Timestamp>) -> i64 {
    let t = t.unwrap_or_default();
    t.seconds * 1000 + i64::from(t.nanos) / 1_000_000
}

/// A timestamp from Unix milliseconds.
pub fn timestamp(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

/// The text of a legal basis in the canonical encoding.
pub fn legal_basis_text(basis: Option<&LegalBasis>) -> String {
    match basis.and_then(|b| b.basis.as_ref()) {
        None => String::new(),
        Some(legal_basis::Basis::ConsentId(id)) => format!("consent {id}"),
        Some(legal_basis::Basis::Statutory(s)) => format!(
            "statute {}",
            StatutoryBasis::try_from(*s)
                .unwrap_or_default()
                .as_str_name()
                .trim_start_matches("STATUTORY_BASIS_")
                .to_ascii_lowercase()
        ),
    }
}

/// The name of an action in the canonical encoding, e.g. "SEND_ACCEPTED".
pub fn action_name(action: i32) -> &'static str {
    AuditAction::try_from(action)
        .unwrap_or_default()
        .as_str_name()
        .trim_start_matches("AUDIT_ACTION_")
}

/// The name of a message kind in the canonical encoding, or "" for none.
pub fn kind_name(kind: i32) -> &'static str {
    match MessageKind::try_from(kind).unwrap_or_default() {
        MessageKind::Unspecified => "",
        k => k.as_str_name().trim_start_matches("MESSAGE_KIND_"),
    }
}

/// The canonical encoding of an entry (see the comment on `AuditEntry`).
pub fn canonical(e: &AuditEntry) -> Vec<u8> {
    let mut out = Vec::with_capacity(320);
    field(&mut out, ENTRY_TAG.as_bytes());
    field(&mut out, e.sequence.to_string().as_bytes());
    field(&mut out, time_ms(e.time).to_string().as_bytes());
    field(&mut out, e.actor_oin.as_bytes());
    field(&mut out, action_name(e.action).as_bytes());
    field(&mut out, e.message_id.as_bytes());
    field(&mut out, e.counterpart_oin.as_bytes());
    field(&mut out, kind_name(e.kind).as_bytes());
    field(&mut out, e.child_ref.as_bytes());
    field(
        &mut out,
        legal_basis_text(e.legal_basis.as_ref()).as_bytes(),
    );
    field(&mut out, e.detail.as_bytes());
    field(&mut out, hex::encode(&e.prev_hash).as_bytes());
    out
}

/// SHA-256 of an entry's canonical encoding.
pub fn entry_hash(e: &AuditEntry) -> [u8; 32] {
    ring::digest::digest(&ring::digest::SHA256, &canonical(e))
        .as_ref()
        .try_into()
        .expect("SHA-256 is 32 bytes")
}

/// The bytes a checkpoint's signature covers.
pub fn checkpoint_bytes(c: &AuditCheckpoint) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    field(&mut out, CHECKPOINT_TAG.as_bytes());
    field(&mut out, c.sequence.to_string().as_bytes());
    field(&mut out, &c.head_hash);
    field(&mut out, time_ms(c.time).to_string().as_bytes());
    out
}

/// The outcome of a verification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Entries whose place in the chain was checked.
    pub entries_checked: u64,
    /// Checkpoints whose signature and hash were checked.
    pub checkpoints_checked: u64,
    /// The first sequence number that failed, if any.
    pub first_broken: Option<u64>,
    /// What failed there.
    pub problem: String,
    /// Entries after the last verified checkpoint.
    pub unsigned_tail: u64,
}

impl Verdict {
    /// True when nothing failed.
    pub fn ok(&self) -> bool {
        self.first_broken.is_none()
    }
}

/// Walks a chain in order, entry by entry, with each checkpoint following the
/// entry it covers, and stops at the first break.
pub struct Verifier {
    public_key: Vec<u8>,
    next_seq: Option<u64>,
    prev: Option<(u64, [u8; 32])>,
    hashes: HashMap<u64, [u8; 32]>,
    last_signed: u64,
    verdict: Verdict,
}

impl Verifier {
    /// A verifier with the gateway's Ed25519 public key. If `starts_at_genesis`,
    /// the first entry must be sequence 1 with a zero `prev_hash`; otherwise
    /// the first entry's `prev_hash` is taken as given (a range, or a log
    /// whose oldest entries were removed after their retention).
    pub fn new(public_key: &[u8], starts_at_genesis: bool) -> Self {
        Self {
            public_key: public_key.to_vec(),
            next_seq: starts_at_genesis.then_some(1),
            prev: starts_at_genesis.then_some((0, GENESIS_HASH)),
            hashes: HashMap::new(),
            last_signed: 0,
            verdict: Verdict::default(),
        }
    }

    fn fail(&mut self, seq: u64, problem: String) {
        if self.verdict.first_broken.is_none() {
            self.verdict.first_broken = Some(seq);
            self.verdict.problem = problem;
        }
    }

    /// Whether the walk is still going (no break found yet).
    pub fn intact(&self) -> bool {
        self.verdict.first_broken.is_none()
    }

    /// Checks the next entry.
    pub fn entry(&mut self, e: &AuditEntry) {
        if !self.intact() {
            return;
        }
        if let Some(expected) = self.next_seq
            && e.sequence != expected
        {
            let problem = if e.sequence > expected {
                format!(
                    "entry {expected} is missing (the next entry found is {})",
                    e.sequence
                )
            } else {
                format!(
                    "entry {} is out of order (entry {expected} was expected)",
                    e.sequence
                )
            };
            return self.fail(expected, problem);
        }
        if let Some((prev_seq, prev_hash)) = self.prev
            && e.prev_hash.as_slice() != prev_hash.as_slice()
        {
            // A signed checkpoint vouches for the previous entry: then this
            // entry's own prev_hash is what was altered.
            let (seq, what) = if prev_seq == 0 || prev_seq <= self.last_signed {
                (
                    e.sequence,
                    format!(
                        "entry {} was altered: its prev_hash does not match the chain",
                        e.sequence
                    ),
                )
            } else {
                (
                    prev_seq,
                    format!(
                        "entry {prev_seq} was altered: its hash does not match the prev_hash of entry {}",
                        e.sequence
                    ),
                )
            };
            return self.fail(seq, what);
        }
        let hash = entry_hash(e);
        self.hashes.insert(e.sequence, hash);
        self.prev = Some((e.sequence, hash));
        self.next_seq = Some(e.sequence + 1);
        self.verdict.entries_checked += 1;
    }

    /// Checks a checkpoint: its signature, and that it names the hash the
    /// walk computed for its entry.
    pub fn checkpoint(&mut self, c: &AuditCheckpoint) {
        if !self.intact() {
            return;
        }
        let signed =
            ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &self.public_key)
                .verify(&checkpoint_bytes(c), &c.signature)
                .is_ok();
        if !signed {
            return self.fail(
                c.sequence,
                format!(
                    "the checkpoint at entry {} has no valid signature under this key",
                    c.sequence
                ),
            );
        }
        match self.hashes.get(&c.sequence) {
            None => self.fail(
                c.sequence,
                format!(
                    "the checkpoint at entry {} names an entry that is not there",
                    c.sequence
                ),
            ),
            Some(h) if h.as_slice() != c.head_hash.as_slice() => self.fail(
                c.sequence,
                format!(
                    "entry {} was altered: it does not match the signed checkpoint",
                    c.sequence
                ),
            ),
            Some(_) => {
                self.last_signed = self.last_signed.max(c.sequence);
                self.verdict.checkpoints_checked += 1;
            }
        }
    }

    /// The verdict.
    pub fn finish(mut self) -> Verdict {
        if self.verdict.entries_checked > 0 {
            let last = self.prev.map(|(s, _)| s).unwrap_or(0);
            let first = last + 1 - self.verdict.entries_checked;
            self.verdict.unsigned_tail = last - self.last_signed.max(first - 1).min(last);
        }
        self.verdict
    }
}
