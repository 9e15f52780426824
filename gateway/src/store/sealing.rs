//! What identifies a child in a stored record (a message's, a consent's or
//! an audit entry's child reference, a consent's birth-date reference and
//! age marks) is kept sealed under the term key of the day the record's
//! term ends ([`crate::crypto::TermKeys`]), and an index that finds entries
//! by child holds the reference blinded under that day's key. Once the day
//! is over its key is gone: the record reads back without a child, and
//! every older copy of it an engine keeps (sled's log, PostgreSQL's dead
//! tuples and WAL, a backup) is ciphertext no one can open.
//!
//! Both engines store records as JSON and call [`Sealing::encode`] and
//! [`Sealing::decode`] for the three kinds of record ([`Identifying`]); the
//! terms are the rules of docs/DOMAIN.md, "Records forget children".

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::config::LONGEST_SIGNAL_DAYS;
use crate::crypto::{ChildRef, KeyError, TermKeys, day_of};
use crate::model::{CaseRecord, ConsentRecord, Entry, MessageRecord};

/// Milliseconds in a day.
const DAY_MS: i64 = 86_400_000;
/// The field of a stored record that holds its sealed part.
const SEALED: &str = "sealed";

/// A record that may identify a child.
pub trait Identifying: Serialize + DeserializeOwned {
    /// Its fields that identify the child, sealed together.
    const FIELDS: &'static [&'static str];
    /// The field whose value binds the seal to the record (its id): a
    /// sealed part moved to another record does not open.
    const BOUND_TO: &'static str;
    /// When its term starts; it ends `audit.retention_days` later.
    fn term_from_ms(&self) -> i64;
}

impl Identifying for MessageRecord {
    const FIELDS: &'static [&'static str] = &["child_ref", "signal"];
    const BOUND_TO: &'static str = "id";
    /// A message may be in an inbox until it expires, and a signal counts
    /// from its lapse (the law's five years after it lapsed).
    fn term_from_ms(&self) -> i64 {
        self.created_at_ms
            .max(self.expires_at_ms)
            .max(self.lapses_at_ms.unwrap_or(i64::MIN))
    }
}

impl Identifying for CaseRecord {
    const FIELDS: &'static [&'static str] = &["child_ref"];
    const BOUND_TO: &'static str = "id";
    /// A case's parties are kept from its last change: its messages have
    /// terms of their own.
    fn term_from_ms(&self) -> i64 {
        self.updated_at_ms
    }
}

impl Identifying for ConsentRecord {
    const FIELDS: &'static [&'static str] = &["child_ref", "birth_ref", "lapse", "reconfirm"];
    const BOUND_TO: &'static str = "id";
    /// A consent is the proof that its messages had a ground (AVG art.
    /// 7(1)): kept from its planned end, however it ended.
    fn term_from_ms(&self) -> i64 {
        self.valid_until_ms.max(self.created_at_ms)
    }
}

impl Identifying for Entry {
    const FIELDS: &'static [&'static str] = &["child_ref", "child_salt"];
    const BOUND_TO: &'static str = "seq";
    /// An entry of the first format, whose hash covers the reference
    /// itself, keeps it until it is removed whole, once no signal of its
    /// time can still need it: without it, it would no longer verify.
    fn term_from_ms(&self) -> i64 {
        if self.format < 2 {
            return self
                .time_ms
                .saturating_add(LONGEST_SIGNAL_DAYS as i64 * DAY_MS);
        }
        self.retention_start_ms()
    }
}

/// The term keys and the retention the terms are counted with.
pub struct Sealing {
    keys: TermKeys,
    retention_ms: i64,
}

/// A record that cannot be stored or read back; the store reports it as
/// its own error ([`crate::store::StoreError`]).
#[derive(Debug, thiserror::Error)]
pub enum SealingError {
    /// A stored record that does not decode or open.
    #[error("record {key}: {message}")]
    Corrupt {
        /// The record's key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A record that cannot be encoded or sealed.
    #[error("{0}")]
    Engine(String),
}

fn corrupt(key: &[u8], message: impl Into<String>) -> SealingError {
    SealingError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        message: message.into(),
    }
}

impl Sealing {
    /// Seals with `keys`, each record for `retention_days` after its term
    /// starts.
    pub fn new(keys: TermKeys, retention_days: u64) -> Self {
        Self {
            keys,
            retention_ms: (retention_days as i64).saturating_mul(DAY_MS),
        }
    }

    /// The term keys of data folder `data_dir` (made on first use, for the
    /// day of `now_ms`), for `retention_days`.
    pub fn open(data_dir: &Path, retention_days: u64, now_ms: i64) -> Result<Arc<Self>, KeyError> {
        let keys = TermKeys::load_or_create(data_dir, day_of(now_ms))?;
        Ok(Arc::new(Self::new(keys, retention_days)))
    }

    /// The sealing of the engines' own tests: one fixed chain from a year
    /// before their moment (`contract::fixtures::NOW`), five years'
    /// retention, its file in `dir`.
    #[cfg(test)]
    pub fn for_tests(dir: &Path) -> Arc<Self> {
        let first_day = day_of(1_800_000_000_000) - 365;
        Arc::new(Self::new(TermKeys::fixed(dir, first_day), 1825))
    }

    /// The retention terms are counted with, in days.
    pub fn retention_days(&self) -> i64 {
        self.retention_ms / DAY_MS
    }

    /// The term keys.
    pub fn keys(&self) -> &TermKeys {
        &self.keys
    }

    /// The day `r`'s term ends.
    pub fn term_day<T: Identifying>(&self, r: &T) -> i64 {
        day_of(r.term_from_ms().saturating_add(self.retention_ms))
    }

    /// `r` as stored: JSON, with what identifies the child sealed under its
    /// term's key, or left out when its term is already over.
    pub fn encode<T: Identifying>(&self, r: &T) -> Result<Vec<u8>, SealingError> {
        serde_json::to_vec(&self.to_value(r)?)
            .map_err(|e| SealingError::Engine(format!("encoding a record: {e}")))
    }

    /// `r` as stored, as a JSON value (for a database's JSON column).
    pub fn to_value<T: Identifying>(&self, r: &T) -> Result<Value, SealingError> {
        let engine = |e: serde_json::Error| SealingError::Engine(format!("encoding a record: {e}"));
        let mut value = serde_json::to_value(r).map_err(engine)?;
        let Value::Object(fields) = &mut value else {
            return Ok(value);
        };
        let mut identifying = Map::new();
        for name in T::FIELDS {
            if let Some(v) = fields.remove(*name)
                && !v.is_null()
            {
                identifying.insert((*name).to_owned(), v);
            }
        }
        if !identifying.is_empty() {
            let day = self.term_day(r);
            if let Some(key) = self.keys.key(day) {
                let aad = fields
                    .get(T::BOUND_TO)
                    .map(Value::to_string)
                    .unwrap_or_default();
                let plain = serde_json::to_vec(&identifying).map_err(engine)?;
                let sealed = key
                    .seal(aad.as_bytes(), plain)
                    .ok_or_else(|| SealingError::Engine("sealing a record".into()))?;
                fields.insert(
                    SEALED.into(),
                    serde_json::json!({"day": day, "box": hex::encode(&sealed)}),
                );
            }
        }
        Ok(value)
    }

    /// A record as [`Sealing::encode`] stored it (or as an earlier release
    /// did, in plain), under `key` (named in errors): what its term still
    /// allows opened.
    pub fn decode<T: Identifying>(&self, key: &[u8], bytes: &[u8]) -> Result<T, SealingError> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| corrupt(key, e.to_string()))?;
        self.from_value(key, value)
    }

    /// A record from its stored JSON value ([`Sealing::to_value`]).
    pub fn from_value<T: Identifying>(
        &self,
        key: &[u8],
        mut value: Value,
    ) -> Result<T, SealingError> {
        self.open_value::<T>(key, &mut value)?;
        serde_json::from_value(value).map_err(|e| corrupt(key, e.to_string()))
    }

    /// Opens the sealed part of a stored record's JSON in place.
    fn open_value<T: Identifying>(
        &self,
        key: &[u8],
        value: &mut Value,
    ) -> Result<(), SealingError> {
        let Value::Object(fields) = value else {
            return Ok(());
        };
        let Some(sealed) = fields.remove(SEALED) else {
            return Ok(());
        };
        let day = sealed.get("day").and_then(Value::as_i64);
        let boxed = sealed
            .get("box")
            .and_then(Value::as_str)
            .and_then(|h| hex::decode(h).ok());
        let (Some(day), Some(boxed)) = (day, boxed) else {
            return Err(corrupt(key, "a sealed part without its day or box"));
        };
        let Some(day_key) = self.keys.key(day) else {
            // Its term is over: the record no longer names a child.
            return Ok(());
        };
        let bound = fields
            .get(T::BOUND_TO)
            .map(Value::to_string)
            .unwrap_or_default();
        let plain = day_key.open(bound.as_bytes(), &boxed).ok_or_else(|| {
            corrupt(
                key,
                "its sealed part does not open: another data folder's child-terms.key, or altered",
            )
        })?;
        let identifying: Map<String, Value> =
            serde_json::from_slice(&plain).map_err(|e| corrupt(key, e.to_string()))?;
        fields.extend(identifying);
        Ok(())
    }

    /// The index form of entry `e`'s child reference: the day its term
    /// ends, then the reference blinded under that day's key; None when it
    /// names no child or its term is over.
    pub fn child_index(&self, e: &Entry) -> Option<[u8; 40]> {
        let child = e.child_ref?;
        let day = self.term_day(e);
        Some(index_form(
            day,
            &self.keys.key(day)?.blind(child.as_bytes()),
        ))
    }

    /// Every index form `child` may have in an entry still within its term
    /// at `now_ms`: one for each day from the first not yet over to the
    /// last a term started by now can end on.
    pub fn child_lookups(&self, child: &ChildRef, now_ms: i64) -> Vec<[u8; 40]> {
        let last =
            day_of(now_ms.saturating_add(self.retention_ms)) + LONGEST_SIGNAL_DAYS as i64 + 1;
        (self.keys.first_day()..=last)
            .filter_map(|day| {
                Some(index_form(
                    day,
                    &self.keys.key(day)?.blind(child.as_bytes()),
                ))
            })
            .collect()
    }

    /// The index form of every day before the first not yet over starts
    /// below this: what an engine removes as forgotten.
    pub fn forgotten_below(&self) -> [u8; 8] {
        self.keys.first_day().to_be_bytes()
    }
}

fn index_form(day: i64, blind: &[u8; 32]) -> [u8; 40] {
    let mut out = [0; 40];
    out[..8].copy_from_slice(&day.to_be_bytes());
    out[8..].copy_from_slice(blind);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::examples;

    fn sealing(dir: &Path, today: i64) -> Sealing {
        Sealing::new(TermKeys::load_or_create(dir, today).unwrap(), 10)
    }

    #[test]
    fn a_record_keeps_its_child_sealed_until_its_term_ends() {
        let dir = tempfile::tempdir().unwrap();
        let s = sealing(dir.path(), 0);
        let mut m = MessageRecord::new(examples::head(
            examples::oin(1),
            examples::oin(2),
            crate::model::LegalBasis::NoPersonalData,
        ));
        let child = m.child_ref.expect("the example names a child");
        m.created_at_ms = 0;
        m.expires_at_ms = DAY_MS;
        m.lapses_at_ms = None;
        assert_eq!(s.term_day(&m), 11, "from its expiry, ten days");
        let stored = s.encode(&m).unwrap();
        let text = String::from_utf8_lossy(&stored);
        assert!(!text.contains(&child.to_hex()), "{text}");
        assert!(!stored.windows(32).any(|w| w == child.as_bytes()));
        let read: MessageRecord = s.decode(b"m1", &stored).unwrap();
        assert_eq!(read, m);

        // Bound to its record: moved to another id, it does not open.
        let mut moved: Value = serde_json::from_slice(&stored).unwrap();
        moved["id"] = Value::String("01a24ef8-f27b-751e-8f37-ca71912fd76d".into());
        let moved = serde_json::to_vec(&moved).unwrap();
        assert!(matches!(
            s.decode::<MessageRecord>(b"m1", &moved),
            Err(SealingError::Corrupt { .. })
        ));

        // A record of an earlier release, in plain, reads as it was.
        let plain = serde_json::to_vec(&m).unwrap();
        assert_eq!(s.decode::<MessageRecord>(b"m1", &plain).unwrap(), m);

        // The term's last day over: the record reads without its child.
        s.keys().forget_before(12).unwrap();
        let read: MessageRecord = s.decode(b"m1", &stored).unwrap();
        assert_eq!(read.child_ref, None);
        assert_eq!(read.id, m.id, "and with everything else");
        // Written again, it holds no sealed part.
        let again = s.encode(&read).unwrap();
        assert!(!String::from_utf8_lossy(&again).contains(SEALED));
        assert!(!String::from_utf8_lossy(&s.encode(&m).unwrap()).contains(SEALED));
    }

    #[test]
    fn a_consent_keeps_its_birth_date_and_age_marks_with_its_child() {
        let dir = tempfile::tempdir().unwrap();
        let s = sealing(dir.path(), 0);
        let mut c = examples::consent(examples::oin(1), 0, 5 * DAY_MS);
        c.birth_ref = Some(ChildRef([8; 32]));
        assert_eq!(s.term_day(&c), 15, "from its planned end");
        let stored = s.encode(&c).unwrap();
        let text = String::from_utf8_lossy(&stored);
        for field in ConsentRecord::FIELDS {
            assert!(!text.contains(&format!("\"{field}\"")), "{field}: {text}");
        }
        assert_eq!(s.decode::<ConsentRecord>(b"c", &stored).unwrap(), c);
        s.keys().forget_before(16).unwrap();
        let read: ConsentRecord = s.decode(b"c", &stored).unwrap();
        assert_eq!((read.child_ref, read.birth_ref), (None, None));
        assert_eq!(read.purpose, c.purpose);
    }

    #[test]
    fn an_index_form_is_found_while_its_day_is_known() {
        let dir = tempfile::tempdir().unwrap();
        let s = sealing(dir.path(), 0);
        let child = ChildRef([3; 32]);
        let draft = crate::model::Draft {
            child_ref: Some(child),
            ..crate::model::Draft::new(examples::oin(1), crate::model::Action::SendAccepted)
        };
        let e = Entry::place(draft, 0, crate::model::GENESIS_HASH, DAY_MS);
        let form = s.child_index(&e).unwrap();
        assert_eq!(&form[..8], &11i64.to_be_bytes());
        assert!(s.child_lookups(&child, DAY_MS).contains(&form));
        assert!(!s.child_lookups(&ChildRef([4; 32]), DAY_MS).contains(&form));
        s.keys().forget_before(12).unwrap();
        assert!(s.child_index(&e).is_none());
        assert!(!s.child_lookups(&child, 12 * DAY_MS).contains(&form));
        assert!(form.as_slice() < s.forgotten_below().as_slice());
    }
}
