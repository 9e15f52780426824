//! A store's data was made with certain keys, and a gateway must hold the
//! same ones: the payload key (or it cannot open the payloads), the child
//! key (or every child reference stored before points nowhere: consents
//! stop covering their messages, and an access report misses part of a
//! trail), and a signing key the store knows (or receipts and checkpoints
//! do not verify with one key ring). The first start records proof of its
//! keys in the store; every later start, of this gateway or of another
//! sharing the store, compares. A key file that was replaced, or that
//! another gateway's copy differs from, is refused at start.

use crate::crypto::{ChildKey, GatewayKeys, PayloadKey, Signer, TERM_KEYS_FILE, TermKeys, key_id};
use crate::model::KeyCheck;
use crate::store::Store;

/// The proof of these keys.
pub fn key_check(
    signing: &GatewayKeys,
    child: &ChildKey,
    payload: &PayloadKey,
    terms: &TermKeys,
) -> KeyCheck {
    KeyCheck {
        term_key_check: terms.check(KeyCheck::TEXT),
        signing_key_id: signing.key_id().to_owned(),
        child_key_check: child.child_ref(KeyCheck::TEXT).to_hex(),
        payload_key_check: payload
            .seal(KeyCheck::TEXT, KeyCheck::TEXT.as_bytes().to_vec())
            .unwrap_or_default(),
    }
}

/// Records the proof of these keys in `store` if it holds none, and
/// otherwise refuses keys that differ from those its data was made with,
/// saying which key and what to do.
/// `shared`: the store is a database other gateways may share (the remedy
/// is then to copy their key files; otherwise, to restore this folder's).
pub async fn ensure_same_keys(
    store: &dyn Store,
    signing: &GatewayKeys,
    child: &ChildKey,
    payload: &PayloadKey,
    shared: bool,
) -> Result<(), String> {
    let mine = key_check(signing, child, payload, store.sealing().keys());
    let recorded = store
        .key_check(mine.clone())
        .await
        .map_err(|e| e.to_string())?;
    let copy = if shared {
        "copy the key files of the data folder of a gateway that already uses this database (see docs/OPERATIONS.md, \"Several gateways over PostgreSQL\") into this gateway's data folder, then start it again"
    } else {
        "restore the key files (child-reference.key, child-terms.key, payload-encryption.key, gateway-signing.key) from your backup of this data folder, then start it again; to start afresh instead, move the whole data folder aside"
    };
    if recorded.payload_key_check != mine.payload_key_check
        && payload
            .open(KeyCheck::TEXT, &recorded.payload_key_check)
            .is_err()
    {
        return Err(format!(
            "this gateway's payload key is not the one the store's payloads are sealed with: {copy}"
        ));
    }
    if !recorded.term_key_check.is_empty() && recorded.term_key_check != mine.term_key_check {
        return Err(format!(
            "this gateway's term keys ({TERM_KEYS_FILE}) are not the chain the store's child references are sealed with: {copy}"
        ));
    }
    if recorded.child_key_check != mine.child_key_check {
        return Err(format!(
            "this gateway's child key (child-reference.key) is not the one the store's child references are made with: {copy}"
        ));
    }
    let known = std::iter::once(signing.key_id().to_owned())
        .chain(signing.retired().iter().map(|k| key_id(k)))
        .any(|id| id == recorded.signing_key_id);
    // A gateway of its own may drop a retired key once nothing it signed
    // needs to verify; gateways sharing a store must sign with one ring.
    if shared && !known {
        return Err(format!(
            "this gateway's signing keys do not include key {}, which signed in this store first: {copy}",
            recorded.signing_key_id
        ));
    }
    Ok(())
}
