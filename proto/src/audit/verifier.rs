//! The verifier: walks a chain entry by entry, with each checkpoint after
//! the entry it covers, and finds the first altered, missing, reordered or
//! cut-off entry.

use std::collections::HashMap;

use super::{FORMAT, GENESIS_HASH, checkpoint_bytes, child_ref_problem, entry_hash, range_bytes};
use crate::keys::KeyRing;
use crate::merkle::Frontier;
use crate::v1::{AuditCheckpoint, AuditEntry, AuditExportRange, TreeHead};

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
    /// The size of the signed tree head whose root the walk made again
    /// from the entries' leaves (0: none).
    pub tree_size_checked: u64,
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
    keys: KeyRing,
    next_seq: Option<u64>,
    prev: Option<(u64, [u8; 32])>,
    hashes: HashMap<u64, [u8; 32]>,
    last_signed: u64,
    /// The signed range's end, when a signed range opened the walk.
    range_end: Option<(u64, Vec<u8>)>,
    /// The tree of the entries walked, and the sequence number of the
    /// first: a tree head counted from that entry is checked against it.
    tree: Option<(u64, Frontier)>,
    verdict: Verdict,
}

impl Verifier {
    /// A verifier with the gateway's Ed25519 public keys. If `starts_at_genesis`,
    /// the first entry must be sequence 1 with a zero `prev_hash`; otherwise
    /// the first entry's `prev_hash` is taken as given (a range, or a log
    /// whose oldest entries were removed after their retention).
    pub fn new(keys: &KeyRing, starts_at_genesis: bool) -> Self {
        Self {
            keys: keys.clone(),
            next_seq: starts_at_genesis.then_some(1),
            prev: starts_at_genesis.then_some((0, GENESIS_HASH)),
            hashes: HashMap::new(),
            last_signed: 0,
            range_end: None,
            tree: None,
            verdict: Verdict::default(),
        }
    }

    /// A verifier of an export that opens with the signed range `r`: the
    /// range's signature must verify, the first entry must be its first and
    /// chain on to its `prev_hash`, and the last entry must be its last with
    /// its `last_hash`, so that entries cut off either end are found.
    pub fn for_range(keys: &KeyRing, r: &AuditExportRange) -> Self {
        let mut v = Self::new(keys, false);
        if let Err(problem) = keys.check(&r.key_id, &range_bytes(r), &r.signature) {
            v.fail(
                r.from_sequence,
                format!("the export's signed range cannot be trusted, so neither can its ends: {problem}"),
            );
            return v;
        }
        let prev: Option<[u8; 32]> = r.prev_hash.as_slice().try_into().ok();
        v.next_seq = Some(r.from_sequence);
        v.prev = prev.map(|h| (r.from_sequence.saturating_sub(1), h));
        // The signed range vouches for the hash before its first entry.
        v.last_signed = r.from_sequence.saturating_sub(1);
        v.range_end = Some((r.to_sequence, r.last_hash.clone()));
        v
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
        if e.format > FORMAT {
            return self.fail(
                e.sequence,
                format!(
                    "entry {} has format {}, which this verifier does not know: use a newer one",
                    e.sequence, e.format
                ),
            );
        }
        if e.format >= 2
            && let Some(problem) = child_ref_problem(e)
        {
            return self.fail(e.sequence, problem);
        }
        let hash = entry_hash(e);
        let receipt: Option<[u8; 32]> = e.receipt_digest.as_slice().try_into().ok();
        let (_, tree) = self
            .tree
            .get_or_insert_with(|| (e.sequence, Frontier::default()));
        tree.push(crate::tree_head::audit_leaf(&hash, receipt.as_ref()));
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
        if let Err(problem) = self
            .keys
            .check(&c.key_id, &checkpoint_bytes(c), &c.signature)
        {
            return self.fail(
                c.sequence,
                format!("the checkpoint at entry {}: {problem}", c.sequence),
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

    /// Checks a signed tree head that follows the entry that completes it:
    /// its signature, and, when the walk began at the tree's first leaf,
    /// that the entries' leaves make its root. A head counted from another
    /// entry than the walk's first cannot be checked here and is passed
    /// over (a witness checks it by consistency).
    pub fn tree_head(&mut self, h: &TreeHead) {
        if !self.intact() {
            return;
        }
        let last = h.first_sequence.saturating_add(h.size).saturating_sub(1);
        if let Err(problem) = crate::tree_head::check_head(&self.keys, h) {
            return self.fail(
                last,
                format!("the tree head of {} entries: {problem}", h.size),
            );
        }
        let Some((first, tree)) = &self.tree else {
            return;
        };
        if *first != h.first_sequence {
            return;
        }
        if tree.size() != h.size {
            return self.fail(
                last,
                format!(
                    "the signed tree head of {} entries does not follow its last entry (entry {last})",
                    h.size
                ),
            );
        }
        if tree.root().as_slice() != h.root_hash.as_slice() {
            return self.fail(
                last,
                format!(
                    "the entries do not make the root of the signed tree head of {} entries: an entry up to {last}, or the receipt it gave, was altered",
                    h.size
                ),
            );
        }
        self.verdict.tree_size_checked = h.size;
    }

    /// The verdict.
    pub fn finish(mut self) -> Verdict {
        if let Some((to, last_hash)) = self.range_end.take()
            && self.intact()
        {
            let last = self.prev.map(|(s, h)| (s, h.to_vec()));
            match last {
                Some((seq, hash)) if seq == to && hash == last_hash => {
                    // The signed range vouches for its last entry.
                    self.last_signed = self.last_signed.max(to);
                }
                Some((seq, _)) if seq < to => self.fail(
                    seq + 1,
                    format!(
                        "the export ends at entry {seq}, but its signed range runs to entry {to}: entries were cut off the end"
                    ),
                ),
                Some((seq, _)) => self.fail(
                    seq,
                    format!("entry {seq} was altered: it does not match the signed range"),
                ),
                None => self.fail(to, "the export holds no entries of its signed range".into()),
            }
        }
        if self.verdict.entries_checked > 0 {
            let last = self.prev.map(|(s, _)| s).unwrap_or(0);
            let first = last + 1 - self.verdict.entries_checked;
            self.verdict.unsigned_tail = last - self.last_signed.max(first - 1).min(last);
        }
        self.verdict
    }
}
