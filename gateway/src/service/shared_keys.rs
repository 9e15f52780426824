//! Gateways that share one store must hold the same keys: the payload key
//! (or they cannot open each other's payloads), the child key (or one child
//! gets two references), and a signing key the others know (or their
//! receipts and checkpoints do not verify with one key ring). The first
//! gateway records proof of its keys in the store; every later one compares.

use crate::crypto::{ChildKey, GatewayKeys, PayloadKey, Signer, key_id};
use crate::model::KeyCheck;
use crate::store::Store;

/// The proof of these keys.
pub fn key_check(signing: &GatewayKeys, child: &ChildKey, payload: &PayloadKey) -> KeyCheck {
    KeyCheck {
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
pub async fn ensure_same_keys(
    store: &dyn Store,
    signing: &GatewayKeys,
    child: &ChildKey,
    payload: &PayloadKey,
) -> Result<(), String> {
    let mine = key_check(signing, child, payload);
    let recorded = store
        .key_check(mine.clone())
        .await
        .map_err(|e| e.to_string())?;
    let copy = "copy the key files of the data folder of a gateway that already uses this database (see docs/OPERATIONS.md, \"Several gateways over PostgreSQL\") into this gateway's data folder, then start it again";
    if recorded.payload_key_check != mine.payload_key_check
        && payload
            .open(KeyCheck::TEXT, &recorded.payload_key_check)
            .is_err()
    {
        return Err(format!(
            "this gateway's payload key is not the one the store's payloads are sealed with: {copy}"
        ));
    }
    if recorded.child_key_check != mine.child_key_check {
        return Err(format!(
            "this gateway's child key is not the one the store's child references are made with: {copy}"
        ));
    }
    let known = std::iter::once(signing.key_id().to_owned())
        .chain(signing.retired().iter().map(|k| key_id(k)))
        .any(|id| id == recorded.signing_key_id);
    if !known {
        return Err(format!(
            "this gateway's signing keys do not include key {}, which signed in this store first: {copy}",
            recorded.signing_key_id
        ));
    }
    Ok(())
}
