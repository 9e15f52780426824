//! Term keys: what identifies a child in a stored record is sealed under
//! the key of the day its term ends, and that key is destroyed once the day
//! is over. Every copy of the record a store keeps behind (sled's log,
//! PostgreSQL's dead tuples and WAL, a backup taken since) then holds only
//! ciphertext no one can open, which a store cannot promise of its own
//! copies.
//!
//! The keys form a one-way chain, one link a day: the file holds the link
//! of the first day not yet over, every later day's link is derived from
//! it by hashing forward, and no earlier one can be derived back. Forgetting
//! a day overwrites the link in place (the file never grows or moves), so
//! nothing of the earlier link is left for the gateway to read. Gateways
//! sharing one database start from copies of one file and derive the same
//! keys, whatever day each has reached.

use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ring::aead::LessSafeKey;
use ring::hmac;

use super::aead;
use super::bytes::{random_bytes, sha256};
use super::secret_file::{KeyError, load_or_create_secret};

/// File name of the term key chain's current link.
pub const TERM_KEYS_FILE: &str = "child-terms.key";

/// What the file starts with, and its version.
const MAGIC: &[u8; 8] = b"SCHKTRM1";
/// Magic, first day (big-endian i64), link.
const FILE_LEN: usize = 8 + 8 + 32;
/// Milliseconds in a day.
const DAY_MS: i64 = 86_400_000;
/// The day whose key proves which chain a gateway holds (in the year
/// 2517): every gateway on one chain derives the same key for it, and it
/// is far from being forgotten.
const CHECK_DAY: i64 = 200_000;

/// The day (days since 1970-01-01, UTC) a moment in milliseconds falls on.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// The date (YYYY-MM-DD) of day number `day` ([`day_of`]).
pub fn date_of_day(day: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(day.saturating_mul(DAY_MS / 1000))
        .map(|t| t.date().to_string())
        .unwrap_or_else(|_| day.to_string())
}

/// The keys of one day: one seals what identifies a child, one blinds a
/// child reference for an index, so that an index key of an old copy is as
/// unreadable as the record.
pub struct DayKey {
    seal: LessSafeKey,
    blind: hmac::Key,
}

impl DayKey {
    fn of(link: &[u8; 32]) -> Self {
        let link = hmac::Key::new(hmac::HMAC_SHA256, link);
        let derive = |label: &[u8]| hmac::sign(&link, label);
        let seal = aead::key(derive(b"schakel term seal").as_ref()).expect("32 bytes");
        let blind = hmac::Key::new(hmac::HMAC_SHA256, derive(b"schakel term blind").as_ref());
        Self { seal, blind }
    }

    /// `plaintext` sealed for `aad` (the record's key).
    pub fn seal(&self, aad: &[u8], plaintext: Vec<u8>) -> Option<Vec<u8>> {
        aead::seal(&self.seal, aad, plaintext)
    }

    /// What [`DayKey::seal`] sealed for `aad`; None when it does not open.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        aead::open(&self.seal, aad, sealed)
    }

    /// The blinded form of `bytes` (a child reference) for this day.
    pub fn blind(&self, bytes: &[u8]) -> [u8; 32] {
        let mut out = [0; 32];
        out.copy_from_slice(hmac::sign(&self.blind, bytes).as_ref());
        out
    }
}

/// The chain from the first day not yet over: its links as far as asked
/// for, and the keys made from them.
struct Chain {
    first_day: i64,
    links: Vec<[u8; 32]>,
    keys: HashMap<i64, Arc<DayKey>>,
}

fn next(link: &[u8; 32]) -> [u8; 32] {
    let mut input = b"schakel term chain\0".to_vec();
    input.extend_from_slice(link);
    sha256(&input).0
}

impl Chain {
    fn link(&mut self, day: i64) -> Option<[u8; 32]> {
        let i = usize::try_from(day.checked_sub(self.first_day)?).ok()?;
        while self.links.len() <= i {
            let last = *self.links.last().expect("the first link");
            self.links.push(next(&last));
        }
        Some(self.links[i])
    }
}

/// The term keys of a data folder.
pub struct TermKeys {
    path: PathBuf,
    chain: Mutex<Chain>,
}

impl TermKeys {
    /// Loads the chain from the data folder, creating it on first start
    /// with a random link for `today` (a day number, [`day_of`]). A file
    /// that is not what the gateway wrote is refused, naming it.
    pub fn load_or_create(data_dir: &Path, today: i64) -> Result<Self, KeyError> {
        let path = data_dir.join(TERM_KEYS_FILE);
        let bytes = load_or_create_secret(&path, || file_bytes(today, &random_bytes()))?;
        let invalid = || KeyError::Invalid {
            path: path.clone(),
            what: "term key chain (48 bytes starting SCHKTRM1)",
        };
        if bytes.len() != FILE_LEN || &bytes[..8] != MAGIC {
            return Err(invalid());
        }
        let first_day = i64::from_be_bytes(bytes[8..16].try_into().expect("8 bytes"));
        let link: [u8; 32] = bytes[16..].try_into().expect("32 bytes");
        Ok(Self {
            path,
            chain: Mutex::new(Chain {
                first_day,
                links: vec![link],
                keys: HashMap::new(),
            }),
        })
    }

    /// A chain of a fixed link from `first_day`, in `data_dir`: the same for
    /// every store a test opens, so that what one seals another opens.
    #[cfg(test)]
    pub fn fixed(data_dir: &Path, first_day: i64) -> Self {
        let path = data_dir.join(TERM_KEYS_FILE);
        std::fs::write(&path, file_bytes(first_day, &[9; 32])).expect("a test folder");
        Self {
            path,
            chain: Mutex::new(Chain {
                first_day,
                links: vec![[9; 32]],
                keys: HashMap::new(),
            }),
        }
    }

    fn chain(&self) -> std::sync::MutexGuard<'_, Chain> {
        self.chain.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The first day whose key is still known: every earlier day's is gone.
    pub fn first_day(&self) -> i64 {
        self.chain().first_day
    }

    /// The keys of `day`; None once the day was forgotten.
    pub fn key(&self, day: i64) -> Option<Arc<DayKey>> {
        let mut chain = self.chain();
        if let Some(k) = chain.keys.get(&day) {
            return Some(k.clone());
        }
        let key = Arc::new(DayKey::of(&chain.link(day)?));
        chain.keys.insert(day, key.clone());
        Some(key)
    }

    /// Proof of the chain without any key of it: a blinded fixed text under
    /// a day far ahead, the same for every copy of the chain, whichever day
    /// each has reached.
    pub fn check(&self, text: &str) -> String {
        let (first_day, mut link) = {
            let chain = self.chain();
            (chain.first_day, chain.links[0])
        };
        for _ in first_day..CHECK_DAY {
            link = next(&link);
        }
        super::bytes::ChildRef(DayKey::of(&link).blind(text.as_bytes())).to_hex()
    }

    /// Forgets every day before `day`: the file's link is overwritten in
    /// place with `day`'s and made durable before the keys leave memory.
    /// Returns the days forgotten (none when `day` is not later than the
    /// first known).
    pub fn forget_before(&self, day: i64) -> std::io::Result<u64> {
        let mut chain = self.chain();
        let Some(link) = chain.link(day).filter(|_| day > chain.first_day) else {
            return Ok(0);
        };
        let file = std::fs::OpenOptions::new().write(true).open(&self.path)?;
        file.write_all_at(&file_bytes(day, &link), 0)?;
        file.sync_data()?;
        let gone = (day - chain.first_day) as u64;
        chain.links.drain(..gone as usize);
        chain.keys.retain(|d, _| *d >= day);
        chain.first_day = day;
        Ok(gone)
    }
}

fn file_bytes(first_day: i64, link: &[u8; 32]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&first_day.to_be_bytes());
    out.extend_from_slice(link);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forgotten_day_does_not_open_and_later_days_still_do() {
        let dir = tempfile::tempdir().unwrap();
        let keys = TermKeys::load_or_create(dir.path(), 100).unwrap();
        let (early, late) = (keys.key(101).unwrap(), keys.key(500).unwrap());
        let sealed_early = early.seal(b"m1", b"child".to_vec()).unwrap();
        let sealed_late = late.seal(b"m1", b"child".to_vec()).unwrap();
        assert!(!sealed_early.windows(5).any(|w| w == b"child"));
        assert_eq!(early.open(b"m1", &sealed_early).unwrap(), b"child");
        assert!(
            early.open(b"m2", &sealed_early).is_none(),
            "bound to its record"
        );
        assert!(
            late.open(b"m1", &sealed_early).is_none(),
            "another day's key"
        );
        let blind = early.blind(b"ref");
        assert_ne!(blind, late.blind(b"ref"));
        let check = keys.check("text");

        let before = std::fs::read(dir.path().join(TERM_KEYS_FILE)).unwrap();
        assert_eq!(keys.forget_before(102).unwrap(), 2);
        assert_eq!(keys.forget_before(102).unwrap(), 0, "once");
        assert!(keys.key(101).is_none());
        let after = std::fs::read(dir.path().join(TERM_KEYS_FILE)).unwrap();
        assert_eq!(after.len(), FILE_LEN);
        assert!(
            !after.windows(32).any(|w| before[16..] == *w),
            "the old link is overwritten"
        );

        // Read back, the chain knows day 500 as before, and not day 101.
        let again = TermKeys::load_or_create(dir.path(), 999).unwrap();
        assert_eq!(again.first_day(), 102);
        assert!(again.key(101).is_none());
        let late_again = again.key(500).unwrap();
        assert_eq!(late_again.open(b"m1", &sealed_late).unwrap(), b"child");
        assert_eq!(late_again.blind(b"ref"), late.blind(b"ref"));
        assert_eq!(again.check("text"), check, "one chain, one proof");
        let other = tempfile::tempdir().unwrap();
        let other = TermKeys::load_or_create(other.path(), 100).unwrap();
        assert_ne!(other.check("text"), check);
    }

    #[test]
    fn a_damaged_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        TermKeys::load_or_create(dir.path(), 1).unwrap();
        let path = dir.path().join(TERM_KEYS_FILE);
        std::fs::write(&path, b"short").unwrap();
        let Err(e) = TermKeys::load_or_create(dir.path(), 1) else {
            panic!("a damaged file is refused");
        };
        assert!(e.to_string().contains(TERM_KEYS_FILE), "{e}");
    }

    #[test]
    fn days_are_utc_days() {
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(DAY_MS - 1), 0);
        assert_eq!(day_of(DAY_MS), 1);
        assert_eq!(day_of(-1), -1);
        assert_eq!(date_of_day(day_of(1_800_000_000_000)), "2027-01-15");
    }
}
