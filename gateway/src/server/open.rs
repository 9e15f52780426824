//! What the gateway opens before it serves: the data folder, its keys and
//! the store, checked to belong together. Every key is made before the
//! store, so that a first start cut off half-way leaves keys without a
//! store, never a store without its keys.

use std::sync::Arc;

use anyhow::Context;

use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::{
    CHILD_KEY_FILE, ChildKey, GatewayKeys, PAYLOAD_KEY_FILE, PayloadKey, SIGNING_KEY_FILE,
};
use crate::service::exchange::Keys;
use crate::store;

/// The data folder's keys and store, opened.
pub struct Opened {
    /// The gateway's signing keys (receipts, checkpoints, reports).
    pub signing_key: Arc<GatewayKeys>,
    /// The secret behind child references.
    pub child_key: Arc<ChildKey>,
    /// The keys the exchange seals payloads and names children with.
    pub keys: Keys,
    /// The store.
    pub store: Arc<dyn store::Store>,
}

/// Opens the data folder of `config` on `clock`: secures it, loads or makes
/// its keys, opens the store, and checks that the store's data was made
/// with these keys.
pub async fn open(config: &Config, clock: &Clock) -> anyhow::Result<Opened> {
    let data_dir = &config.storage.data_dir;
    store::data_folder::secure(data_dir, config.storage.allow_shared_data_folder)
        .map_err(anyhow::Error::msg)?;
    refuse_lost_keys(data_dir)?;
    let signing_key = Arc::new(GatewayKeys::load_or_create(data_dir)?);
    let child_key = Arc::new(ChildKey::load_or_create(data_dir).map_err(|e| match e {
        crate::crypto::KeyError::Invalid { .. } => anyhow::anyhow!(
            "{e}: restore it from your backup of the data folder (under a new secret every child reference stored before would point nowhere); to start afresh instead, move the whole data folder aside"
        ),
        other => other.into(),
    })?);
    let keys = Keys {
        payload: Arc::new(PayloadKey::load_or_create(data_dir)?),
        child: child_key.clone(),
    };
    let sealing =
        store::sealing::Sealing::open(data_dir, config.audit.retention_days, clock.now_ms())?;
    let store = store::engine::open(&config.storage, signing_key.clone(), sealing)
        .await
        .with_context(|| {
            format!(
                "cannot open the store {}",
                store::engine::describe(&config.storage)
            )
        })?;
    crate::service::shared_keys::ensure_same_keys(
        store.as_ref(),
        &signing_key,
        &child_key,
        &keys.payload,
        config.storage.engine == crate::config::StorageEngine::Postgres,
    )
    .await
    .map_err(anyhow::Error::msg)?;
    Ok(Opened {
        signing_key,
        child_key,
        keys,
        store,
    })
}

/// Refuses to start on a data folder whose store holds data while one of
/// its keys is gone: a key made anew would leave the stored payloads
/// unreadable, the child references unmatched and the receipts without a
/// key that verifies them. Only a new data folder gets new keys.
fn refuse_lost_keys(data_dir: &std::path::Path) -> anyhow::Result<()> {
    let store = data_dir.join(store::engine::STORE_DIR);
    let holds_data = std::fs::read_dir(&store).is_ok_and(|mut d| d.next().is_some());
    if !holds_data {
        return Ok(());
    }
    for file in [SIGNING_KEY_FILE, CHILD_KEY_FILE, PAYLOAD_KEY_FILE] {
        let path = data_dir.join(file);
        if !path.exists() {
            anyhow::bail!(
                "{} is missing, but the store in {} holds data made with it: restore the file from your backup of the data folder (a new key would leave the stored payloads unreadable and the receipts unverifiable); to start afresh instead, move the whole data folder aside",
                path.display(),
                store.display()
            );
        }
    }
    Ok(())
}
