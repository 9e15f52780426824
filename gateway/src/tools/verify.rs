//! Offline verification of a stopped gateway's audit log, from its data
//! folder and the key in it.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use schakel_proto::audit::Verdict;

use crate::crypto::GatewayKeys;
use crate::service::audit_chain::verify_chain;
use crate::store;

/// Verifies the whole audit chain of a stopped gateway's data folder with
/// the public halves of the keys in that folder (the signing key and the
/// retired ones). Opens the store, so the gateway
/// must not be running. It creates no key; opening a store records its format
/// version if it has none, and removes payload files no message refers to,
/// as every start of the gateway does.
/// A store of an earlier release is brought to the current format, its
/// child references sealed for `retention_days` (`audit.retention_days`).
pub async fn verify_data_dir(data_dir: &Path, retention_days: u64) -> anyhow::Result<Verdict> {
    let key = GatewayKeys::load(data_dir)
        .with_context(|| format!("{} holds no gateway signing key", data_dir.display()))?;
    let keys = key.ring();
    if !data_dir.join(store::engine::STORE_DIR).is_dir() {
        anyhow::bail!("{} holds no store", data_dir.display());
    }
    let sealing = store::sealing::Sealing::open(
        data_dir,
        retention_days,
        crate::clock::Clock::system().now_ms(),
    )?;
    let store =
        store::engine::open_in(data_dir, 64 << 20, Arc::new(key), sealing).with_context(|| {
            format!(
                "cannot open the store in {} (is the gateway still running?)",
                data_dir.display()
            )
        })?;
    let (head, _) = store.audit_head().await?;
    Ok(verify_chain(store.as_ref(), &keys, 1, head).await?)
}
