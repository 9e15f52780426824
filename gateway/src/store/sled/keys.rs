//! The sled store's keys and codecs. Everything but the payloads lives in
//! one tree under one-byte prefixes, so that a state change, its receipt and
//! its audit entry go into one atomic batch. Ids are UUID text, OINs 20
//! digits, numbers u64 big-endian so that byte order is numeric order:
//!
//! | prefix | key | value |
//! | --- | --- | --- |
//! | `V` | "format" | the store format version (u64) |
//! | `V` | "erased_through" | the cursor of the erasure of child references (u64) |
//! | `V` | "key_check" | proof of the keys the store's data was made with (JSON) |
//! | `P` | OIN | participant (JSON) |
//! | `m` | id | message record (JSON) |
//! | (tree `payloads`) | id | sealed payload, or its length (8 bytes): in file `payloads/<id>` |
//! | `i` | recipient, queue seq | id: the FIFO inbox of ready messages |
//! | `l` | lease end ms, id | recipient: leases by end time |
//! | `x` | expiry ms, id | (): undelivered messages by expiry |
//! | `g` | final ms, id | (): payloads waiting for their retention to pass |
//! | `k` | sender, client reference | id: idempotency |
//! | `r` | sender, cursor | receipt (protobuf): a sender's receipt stream; a message's record lists its cursors |
//! | `a` | sequence | audit entry (JSON) |
//! | `c` | recipient | ready and leased counts |
//! | `b` | recipient | payload bytes held undelivered in its inbox (u64) |
//! | `B` | sender | payload bytes it has waiting undelivered (u64) |
//! | `C` | consent id | consent (JSON) |
//! | `n` | registering OIN, consent id | (): an organisation's consents |
//! | `w` | consent id, message id | (): the messages under a consent |
//! | `e` | valid-until ms, consent id | (): consents by end of validity |
//! | `K` | sequence | audit checkpoint (JSON) |
//! | `t` | case id, message id | (): the messages of a case |
//! | `N` | due ms, schedule id | notice (JSON): notices by the moment they are due |
//! | `L` | lapse ms, id | (): signals by the moment they lapse |
//! | `E` | retention start ms, sequence | (): audit entries holding a child reference, by when its retention starts |
//! | `h` | child reference (32 bytes), sequence | (): the audit entries about a child |
//! | `o` | OIN, sequence | (): the audit entries an organisation acted in or was the other party of |
//! | `T` | leaf index | the hashes (32 bytes each, level 0 first) of the complete subtrees of the audit log's tree that this leaf completes: itself, and each subtree it is the last leaf of |
//! | `H` | tree size | signed tree head (JSON): one per group that added entries |
//! | `V` | "tree_first" | the sequence number of the tree's first leaf (u64) |

use prost::Message as _;
use schakel_proto::v1 as pb;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::store::StoreError;
use crate::store::sealing::Sealing;

pub(super) const TREE: &str = "schakel";
pub(super) const PAYLOADS: &str = "payloads";
pub(super) const FORMAT: u8 = b'V';
pub(super) const PARTICIPANT: u8 = b'P';
pub(super) const MESSAGE: u8 = b'm';
pub(super) const INBOX: u8 = b'i';
pub(super) const LEASE: u8 = b'l';
pub(super) const EXPIRY: u8 = b'x';
pub(super) const PURGE: u8 = b'g';
pub(super) const IDEMPOTENCY: u8 = b'k';
pub(super) const RECEIPT_BY_SENDER: u8 = b'r';
pub(super) const AUDIT: u8 = b'a';
pub(super) const COUNTS: u8 = b'c';
pub(super) const HELD_BY_RECIPIENT: u8 = b'b';
pub(super) const HELD_BY_SENDER: u8 = b'B';
pub(super) const CONSENT: u8 = b'C';
pub(super) const CONSENT_BY_ORG: u8 = b'n';
pub(super) const MESSAGES_UNDER_CONSENT: u8 = b'w';
pub(super) const CONSENT_END: u8 = b'e';
pub(super) const CHECKPOINT: u8 = b'K';
pub(super) const CASE: u8 = b't';
pub(super) const NOTICE: u8 = b'N';
pub(super) const LAPSE: u8 = b'L';
pub(super) const ERASE: u8 = b'E';
pub(super) const BY_CHILD: u8 = b'h';
pub(super) const BY_ORG: u8 = b'o';
/// A case's record of its parties, by case id.
pub(super) const CASE_RECORD: u8 = b'p';
/// A node of the audit log's tree.
pub(super) const NODE: u8 = b'T';
/// A signed tree head, by size.
pub(super) const TREE_HEAD: u8 = b'H';

/// The sequence number of the audit log tree's first leaf: 1, or the
/// oldest entry kept when the store became a tree.
pub(super) const TREE_FIRST: &[u8] = b"Vtree_first";

/// The sequence number through which the child references of entries not
/// about a signal were erased (their walk's cursor).
pub(super) const ERASED_THROUGH: &[u8] = b"Verased_through";

/// Proof of the keys the store's data was made with ([`KeyCheck`]).
///
/// [`KeyCheck`]: crate::model::KeyCheck
pub(super) const KEY_CHECK: &[u8] = b"Vkey_check";

/// The key of a scheduled notice.
pub(super) fn notice_key(at_ms: i64, id: &str) -> Vec<u8> {
    key(NOTICE, &[&ms(at_ms), id.as_bytes()])
}

/// The key (without a value) of message `id`'s overdue notice, due at
/// `at_ms`.
pub(super) fn overdue_key(at_ms: i64, id: &crate::model::MessageId) -> Vec<u8> {
    notice_key(at_ms, &format!("{}{id}", crate::store::OVERDUE_NOTICE))
}

/// The index keys of an audit entry: by child, by actor, by counterpart
/// ([`AuditKey::of`](crate::store::AuditKey::of)).
///
/// The child's key holds the day its term ends and the reference blinded
/// under that day's key ([`Sealing::child_index`]): once the day is over,
/// no copy of the key says which child it was.
pub(super) fn audit_index_keys(e: &crate::model::Entry, sealing: &Sealing) -> Vec<Vec<u8>> {
    let child = sealing
        .child_index(e)
        .map(|form| key(BY_CHILD, &[&form, &be(e.seq)]));
    let orgs = crate::store::AuditKey::of(e)
        .into_iter()
        .filter_map(|about| match about {
            crate::store::AuditKey::Org(o) => {
                Some(key(BY_ORG, &[o.as_str().as_bytes(), &be(e.seq)]))
            }
            crate::store::AuditKey::Child(_) => None,
        });
    child.into_iter().chain(orgs).collect()
}

/// The prefixes of the index keys of entries found by `about` at `now_ms`:
/// an organisation's one, a child's one for every day a term still
/// running can end on.
pub(super) fn about_prefixes(
    about: &crate::store::AuditKey,
    sealing: &Sealing,
    now_ms: i64,
) -> Vec<Vec<u8>> {
    match about {
        crate::store::AuditKey::Child(c) => sealing
            .child_lookups(c, now_ms)
            .iter()
            .map(|form| key(BY_CHILD, &[form]))
            .collect(),
        crate::store::AuditKey::Org(o) => vec![key(BY_ORG, &[o.as_str().as_bytes()])],
    }
}

/// A key: `prefix` followed by `parts`.
pub(super) fn key(prefix: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + parts.iter().map(|p| p.len()).sum::<usize>());
    k.push(prefix);
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

/// A number in key order.
pub(super) fn be(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

/// A time in key order (times before 1970 sort first).
pub(super) fn ms(n: i64) -> [u8; 8] {
    (n.max(0) as u64).to_be_bytes()
}

fn corrupt(key: &[u8], message: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        message: message.into(),
    }
}

/// The big-endian number at `at..at + 8` of `bytes` (a key or a value).
pub(super) fn u64_at(bytes: &[u8], at: usize) -> Result<u64, StoreError> {
    bytes
        .get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| corrupt(bytes, format!("expected 8 bytes at offset {at}")))
}

/// The text of `bytes` from `at` on (the id at the end of a key).
pub(super) fn text_from(bytes: &[u8], at: usize) -> Result<&str, StoreError> {
    bytes
        .get(at..)
        .and_then(|b| std::str::from_utf8(b).ok())
        .ok_or_else(|| corrupt(bytes, format!("expected text from offset {at}")))
}

/// Parses the text of `bytes` from `at` on as a `T` (an id or an OIN).
pub(super) fn parse_from<T: std::str::FromStr>(bytes: &[u8], at: usize) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    text_from(bytes, at)?
        .parse()
        .map_err(|e: T::Err| corrupt(bytes, e.to_string()))
}

/// Decodes a JSON record.
pub(super) fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| corrupt(key, e.to_string()))
}

/// Encodes a record as JSON.
pub(super) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Engine(format!("encoding a record: {e}")))
}

/// Decodes a stored receipt.
pub(super) fn decode_receipt(key: &[u8], bytes: &[u8]) -> Result<pb::Receipt, StoreError> {
    pb::Receipt::decode(bytes).map_err(|e| corrupt(key, e.to_string()))
}

/// Decodes every value of a scan.
pub(super) fn decode_all<T: DeserializeOwned>(
    scan: impl Iterator<Item = Result<(::sled::IVec, ::sled::IVec), StoreError>>,
) -> Result<Vec<T>, StoreError> {
    scan.map(|kv| {
        let (k, v) = kv?;
        decode(&k, &v)
    })
    .collect()
}

/// A recipient's (ready, leased) counts as stored under `c`.
pub(super) fn counts(key: &[u8], value: Option<&[u8]>) -> Result<(u64, u64), StoreError> {
    match value {
        None => Ok((0, 0)),
        Some(v) if v.len() == 16 => Ok((u64_at(v, 0)?, u64_at(v, 8)?)),
        Some(v) => Err(corrupt(key, format!("counts of {} bytes, not 16", v.len()))),
    }
}

/// A stored byte count (absent: nothing held).
pub(super) fn held_bytes(key: &[u8], value: Option<&[u8]>) -> Result<u64, StoreError> {
    match value {
        None => Ok(0),
        Some(v) if v.len() == 8 => u64_at(v, 0),
        Some(v) => Err(corrupt(
            key,
            format!("a byte count of {} bytes, not 8", v.len()),
        )),
    }
}

/// The stored form of (ready, leased) counts.
pub(super) fn counts_value(ready: u64, leased: u64) -> Vec<u8> {
    let mut v = be(ready).to_vec();
    v.extend_from_slice(&be(leased));
    v
}

impl From<::sled::Error> for StoreError {
    fn from(e: ::sled::Error) -> Self {
        match e {
            // A full disk, a failing device: the store cannot write now.
            ::sled::Error::Io(io) => StoreError::Io(io),
            e => StoreError::Engine(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_or_garbled_bytes_are_corrupt_not_a_panic() {
        assert_eq!(u64_at(&key(AUDIT, &[&be(7)]), 1).unwrap(), 7);
        assert!(matches!(
            u64_at(b"a123", 1),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            text_from(&[b'm', 0xff], 1),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            parse_from::<crate::model::MessageId>(b"mnot-an-id", 1),
            Err(StoreError::Corrupt { .. })
        ));
        assert_eq!(counts(b"c", None).unwrap(), (0, 0));
        assert_eq!(counts(b"c", Some(&counts_value(3, 4))).unwrap(), (3, 4));
        assert!(matches!(
            counts(b"c", Some(&[1, 2, 3])),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            decode::<crate::model::Entry>(b"a", b"{}"),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            decode_receipt(b"r", &[0xff, 0xff]),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
