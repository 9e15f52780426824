//! The audit chain's canonical encoding and its verifier. They live here,
//! beside the wire types, so that the gateway that writes the chain, its
//! `Verify` call, the offline verifier of the `schakel` CLI and the
//! `schakel-gateway audit verify` command all use one implementation.

mod verifier;

pub use verifier::{Verdict, Verifier};

use crate::v1::{
    AuditAction, AuditCheckpoint, AuditEntry, AuditExportRange, ConsentPurpose, LegalBasis,
    MessageKind, StatutoryBasis, legal_basis,
};

/// Tag that starts an entry's canonical encoding in the first format.
pub const ENTRY_TAG: &str = "schakel-audit-v1";
/// Tag that starts an entry's canonical encoding in the current format.
pub const ENTRY_TAG_V2: &str = "schakel-audit-v2";
/// The current entry format.
pub const FORMAT: u32 = 2;
/// Tag that starts the signed encoding of a checkpoint without a key id.
pub const CHECKPOINT_TAG: &str = "schakel-checkpoint-v1";
/// Tag that starts the signed encoding of a checkpoint that names its key.
pub const CHECKPOINT_TAG_V2: &str = "schakel-checkpoint-v2";
/// Tag that starts the signed encoding of a range without a key id.
pub const RANGE_TAG: &str = "schakel-range-v1";
/// Tag that starts the signed encoding of a range that names its key.
pub const RANGE_TAG_V2: &str = "schakel-range-v2";
/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// Appends `bytes` as a 4-byte big-endian length and the bytes: how every
/// signed or hashed encoding of the contract writes a field.
pub fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Unix milliseconds of an optional timestamp.
pub fn time_ms(t: Option<prost_types::Timestamp>) -> i64 {
    let t = t.unwrap_or_default();
    t.seconds
        .saturating_mul(1000)
        .saturating_add(i64::from(t.nanos) / 1_000_000)
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
        Some(legal_basis::Basis::NoPersonalData(_)) => "no_personal_data".into(),
    }
}

/// The text of a legal basis in the format-2 encoding: as in format 1, with
/// the purpose and the declaration appended where they are set.
pub fn legal_basis_text_v2(basis: Option<&LegalBasis>) -> String {
    let mut text = legal_basis_text(basis);
    if let Some(b) = basis {
        let purpose = ConsentPurpose::try_from(b.purpose).unwrap_or_default();
        if purpose != ConsentPurpose::Unspecified {
            text.push_str(" purpose ");
            text.push_str(purpose.as_str_name().trim_start_matches("CONSENT_PURPOSE_"));
        }
        if b.necessity_declared {
            text.push_str(" declared");
        }
    }
    text
}

/// The commitment a format-2 entry hashes instead of its child reference:
/// SHA-256 of the salt followed by the reference's 32 bytes.
pub fn child_commitment(salt: &[u8], child_ref: &[u8]) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(salt);
    ctx.update(child_ref);
    ctx.finish()
        .as_ref()
        .try_into()
        .expect("SHA-256 is 32 bytes")
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

/// The canonical encoding of an entry (see the comment on `AuditEntry`), in
/// the entry's own format.
pub fn canonical(e: &AuditEntry) -> Vec<u8> {
    if e.format >= 2 {
        return canonical_v2(e);
    }
    let mut out = head(ENTRY_TAG, e);
    field(&mut out, e.child_ref.as_bytes());
    field(
        &mut out,
        legal_basis_text(e.legal_basis.as_ref()).as_bytes(),
    );
    field(&mut out, e.detail.as_bytes());
    field(&mut out, hex::encode(&e.prev_hash).as_bytes());
    out
}

/// The fields every format begins with: its tag, then sequence, time,
/// actor, action, message, counterpart and kind.
fn head(tag: &str, e: &AuditEntry) -> Vec<u8> {
    let mut out = Vec::with_capacity(360);
    field(&mut out, tag.as_bytes());
    field(&mut out, e.sequence.to_string().as_bytes());
    field(&mut out, time_ms(e.time).to_string().as_bytes());
    field(&mut out, e.actor_oin.as_bytes());
    field(&mut out, action_name(e.action).as_bytes());
    field(&mut out, e.message_id.as_bytes());
    field(&mut out, e.counterpart_oin.as_bytes());
    field(&mut out, kind_name(e.kind).as_bytes());
    out
}

fn canonical_v2(e: &AuditEntry) -> Vec<u8> {
    let mut out = head(ENTRY_TAG_V2, e);
    field(&mut out, hex::encode(&e.child_ref_commitment).as_bytes());
    field(
        &mut out,
        legal_basis_text_v2(e.legal_basis.as_ref()).as_bytes(),
    );
    field(&mut out, e.detail.as_bytes());
    field(&mut out, e.case_id.as_bytes());
    field(&mut out, hex::encode(&e.prev_hash).as_bytes());
    out
}

/// What is wrong with a format-2 entry's child reference, if anything: it
/// must match the commitment the entry hashed (or be erased).
pub(crate) fn child_ref_problem(e: &AuditEntry) -> Option<String> {
    if e.child_ref.is_empty() {
        return None;
    }
    let bytes = hex::decode(&e.child_ref).ok().filter(|b| b.len() == 32);
    let ok = bytes.is_some_and(|b| {
        e.child_ref_salt.len() == 16
            && child_commitment(&e.child_ref_salt, &b).as_slice() == e.child_ref_commitment
    });
    (!ok).then(|| {
        format!(
            "entry {} was altered: its child reference does not match the commitment it hashed",
            e.sequence
        )
    })
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
    let tag = match c.key_id.is_empty() {
        true => CHECKPOINT_TAG,
        false => CHECKPOINT_TAG_V2,
    };
    field(&mut out, tag.as_bytes());
    field(&mut out, c.sequence.to_string().as_bytes());
    field(&mut out, &c.head_hash);
    field(&mut out, time_ms(c.time).to_string().as_bytes());
    key_id_field(&mut out, &c.key_id);
    out
}

/// Appends the key id as the last field of a "-v2" encoding; a "-v1"
/// encoding (no key id) has none.
pub(crate) fn key_id_field(out: &mut Vec<u8>, key_id: &str) {
    if !key_id.is_empty() {
        field(out, key_id.as_bytes());
    }
}

/// The bytes an export range's signature covers.
pub fn range_bytes(r: &AuditExportRange) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    let tag = match r.key_id.is_empty() {
        true => RANGE_TAG,
        false => RANGE_TAG_V2,
    };
    field(&mut out, tag.as_bytes());
    field(&mut out, r.from_sequence.to_string().as_bytes());
    field(&mut out, r.to_sequence.to_string().as_bytes());
    field(&mut out, &r.prev_hash);
    field(&mut out, &r.last_hash);
    field(&mut out, time_ms(r.time).to_string().as_bytes());
    key_id_field(&mut out, &r.key_id);
    out
}

/// Whether `signature` is the Ed25519 signature of `message` under
/// `public_key`.
pub fn signed_by(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public_key)
        .verify(message, signature)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyRing;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    fn key() -> Ed25519KeyPair {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
        Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap()
    }

    /// A chain of `n` format-2 entries, each about a child.
    fn chain(n: u64) -> Vec<AuditEntry> {
        let mut prev = GENESIS_HASH;
        (1..=n)
            .map(|seq| {
                let salt = vec![seq as u8; 16];
                let child = [9u8; 32];
                let e = AuditEntry {
                    sequence: seq,
                    time: Some(timestamp(1000 + seq as i64)),
                    actor_oin: "00000099100000000001".into(),
                    action: AuditAction::SendAccepted as i32,
                    child_ref: hex::encode(child),
                    child_ref_commitment: child_commitment(&salt, &child).to_vec(),
                    child_ref_salt: salt,
                    case_id: "0190b2a4-7c3e-7a1b-9c2d-3e4f5a6b7c8d".into(),
                    format: FORMAT,
                    prev_hash: prev.to_vec(),
                    ..AuditEntry::default()
                };
                prev = entry_hash(&e);
                e
            })
            .collect()
    }

    fn walk(v: &mut Verifier, entries: &[AuditEntry]) {
        for e in entries {
            v.entry(e);
        }
    }

    #[test]
    fn an_erased_child_reference_keeps_the_chain_and_an_altered_one_breaks_it() {
        let mut entries = chain(3);
        let mut v = Verifier::new(&KeyRing::default(), true);
        walk(&mut v, &entries);
        assert!(v.finish().ok());

        entries[1].child_ref.clear();
        entries[1].child_ref_salt.clear();
        let mut v = Verifier::new(&KeyRing::default(), true);
        walk(&mut v, &entries);
        assert!(v.finish().ok(), "erasure keeps the chain intact");

        let mut altered = chain(3);
        altered[1].child_ref = hex::encode([8u8; 32]);
        let mut v = Verifier::new(&KeyRing::default(), true);
        walk(&mut v, &altered);
        let verdict = v.finish();
        assert_eq!(verdict.first_broken, Some(2));
        assert!(
            verdict.problem.contains("child reference"),
            "{}",
            verdict.problem
        );

        // The case id is hashed: altering it breaks the link to the next entry.
        let mut case = chain(3);
        case[1].case_id = "another".into();
        let mut v = Verifier::new(&KeyRing::default(), true);
        walk(&mut v, &case);
        assert_eq!(v.finish().first_broken, Some(2));
    }

    fn signed_range(key: &Ed25519KeyPair, entries: &[AuditEntry]) -> AuditExportRange {
        let (first, last) = (&entries[0], &entries[entries.len() - 1]);
        let mut r = AuditExportRange {
            from_sequence: first.sequence,
            to_sequence: last.sequence,
            prev_hash: first.prev_hash.clone(),
            last_hash: entry_hash(last).to_vec(),
            time: Some(timestamp(5000)),
            signature: vec![],
            key_id: crate::keys::key_id(key.public_key().as_ref()),
        };
        r.signature = key.sign(&range_bytes(&r)).as_ref().to_vec();
        r
    }

    #[test]
    fn a_signed_range_finds_entries_cut_off_either_end() {
        let key = key();
        let public = KeyRing::single(key.public_key().as_ref());
        let entries = chain(5);
        let range = signed_range(&key, &entries[1..4]);

        let mut v = Verifier::for_range(&public, &range);
        walk(&mut v, &entries[1..4]);
        let verdict = v.finish();
        assert!(verdict.ok(), "{}", verdict.problem);
        assert_eq!(verdict.unsigned_tail, 0);

        let mut v = Verifier::for_range(&public, &range);
        walk(&mut v, &entries[2..4]);
        let verdict = v.finish();
        assert_eq!(verdict.first_broken, Some(2), "{}", verdict.problem);

        let mut v = Verifier::for_range(&public, &range);
        walk(&mut v, &entries[1..3]);
        let verdict = v.finish();
        assert_eq!(verdict.first_broken, Some(4), "{}", verdict.problem);
        assert!(
            verdict.problem.contains("cut off the end"),
            "{}",
            verdict.problem
        );

        let mut forged = range.clone();
        forged.to_sequence = 3;
        let v = Verifier::for_range(&public, &forged);
        assert!(v.finish().problem.contains("cannot be trusted"));
        // The key id is signed too.
        let mut renamed = range.clone();
        renamed.key_id.clear();
        let v = Verifier::for_range(&public, &renamed);
        assert!(v.finish().problem.contains("does not verify"));
    }

    #[test]
    fn the_legal_basis_of_format_2_names_purpose_and_declaration() {
        let basis = LegalBasis {
            basis: Some(legal_basis::Basis::ConsentId("c".into())),
            purpose: ConsentPurpose::Consultation as i32,
            necessity_declared: false,
        };
        assert_eq!(legal_basis_text(Some(&basis)), "consent c");
        assert_eq!(
            legal_basis_text_v2(Some(&basis)),
            "consent c purpose CONSULTATION"
        );
        let declared = LegalBasis {
            basis: Some(legal_basis::Basis::Statutory(
                StatutoryBasis::MeldrechtVeiligThuis as i32,
            )),
            purpose: 0,
            necessity_declared: true,
        };
        assert_eq!(
            legal_basis_text_v2(Some(&declared)),
            "statute meldrecht_veilig_thuis declared"
        );
    }
}
