//! Which engine holds the store, and where: the one place that opens a
//! store, for the server and for the tools that read a stopped gateway's
//! data folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::postgres::PostgresStore;
use super::postgres::connection::Target;
use super::sealing::Sealing;
use super::sled::SledStore;
use super::{Store, StoreError};
use crate::config::{StorageConfig, StorageEngine};
use crate::crypto::Signer;

/// Name of the store's folder inside the data folder.
pub const STORE_DIR: &str = "store";

/// Opens the store configured in `config`, with `signer` for receipts and
/// checkpoints and `sealing` for what identifies a child in its records:
/// sled inside the data folder, or the PostgreSQL database (its schema
/// brought to this gateway's version).
pub async fn open(
    config: &StorageConfig,
    signer: Arc<dyn Signer>,
    sealing: Arc<Sealing>,
) -> Result<Arc<dyn Store>, StoreError> {
    match config.engine {
        StorageEngine::Sled => open_in(
            &config.data_dir,
            config.cache_capacity_mib * 1024 * 1024,
            signer,
            sealing,
        ),
        StorageEngine::Postgres => Ok(Arc::new(
            PostgresStore::open(target(config), signer, sealing).await?,
        )),
    }
}

/// Where the configured store is, for messages: its folder, or its
/// database (never the connection string, which may hold a password).
pub fn describe(config: &StorageConfig) -> String {
    match config.engine {
        StorageEngine::Sled => format!("in {}", config.data_dir.join(STORE_DIR).display()),
        StorageEngine::Postgres => format!(
            "in PostgreSQL database {:?} (storage.postgres_url)",
            database_name(config)
        ),
    }
}

/// The name of the PostgreSQL database of `storage.postgres_url` (never
/// the whole URL, which may hold a password).
pub fn database_name(config: &StorageConfig) -> String {
    super::postgres::session::database_of(&config.postgres_url)
}

/// What the PostgreSQL store needs to connect, from its configuration.
pub fn target(config: &StorageConfig) -> Target {
    let set = |p: &PathBuf| (!p.as_os_str().is_empty()).then(|| p.clone());
    Target {
        url: config.postgres_url.clone(),
        ca_file: set(&config.postgres_ca_file),
        client_identity: set(&config.postgres_client_cert).zip(set(&config.postgres_client_key)),
    }
}

/// Opens the sled store inside data folder `data_dir` with a cache of
/// `cache_bytes`.
pub fn open_in(
    data_dir: &Path,
    cache_bytes: u64,
    signer: Arc<dyn Signer>,
    sealing: Arc<Sealing>,
) -> Result<Arc<dyn Store>, StoreError> {
    Ok(Arc::new(SledStore::open(
        &data_dir.join(STORE_DIR),
        cache_bytes,
        signer,
        sealing,
    )?))
}
