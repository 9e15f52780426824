//! Which engine holds the store, and where: the one place that opens a
//! store, for the server and for the tools that read a stopped gateway's
//! data folder.

use std::path::Path;
use std::sync::Arc;

use super::sled::SledStore;
use super::{Store, StoreError};
use crate::config::StorageConfig;
use crate::crypto::Signer;

/// Name of the store's folder inside the data folder.
pub const STORE_DIR: &str = "store";

/// Opens the store configured in `config` inside the data folder, with
/// `signer` for receipts and checkpoints.
pub fn open(config: &StorageConfig, signer: Arc<dyn Signer>) -> Result<Arc<dyn Store>, StoreError> {
    open_in(
        &config.data_dir,
        config.cache_capacity_mib * 1024 * 1024,
        signer,
    )
}

/// Opens the store inside data folder `data_dir` with a cache of
/// `cache_bytes`.
pub fn open_in(
    data_dir: &Path,
    cache_bytes: u64,
    signer: Arc<dyn Signer>,
) -> Result<Arc<dyn Store>, StoreError> {
    Ok(Arc::new(SledStore::open(
        &data_dir.join(STORE_DIR),
        cache_bytes,
        signer,
    )?))
}
