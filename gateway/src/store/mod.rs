//! The storage trait: everything the gateway keeps goes through [`Store`].
//!
//! sled is the embedded default ([`sled_store::SledStore`]), so one binary runs
//! with nothing else installed. The trait is written so that a server database
//! shared by several gateway instances (PostgreSQL) can implement it too: every
//! method is async, every write is durable when it returns, and no method
//! relies on state that only one process can see.

pub mod sled_store;

use async_trait::async_trait;

use crate::directory::Participant;

/// A failure of the storage layer. Callers cannot repair these; the API turns
/// them into INTERNAL (or UNAVAILABLE) without leaking details to clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The underlying engine failed.
    #[error("storage engine: {0}")]
    Engine(String),
    /// Reading or syncing files failed.
    #[error("storage I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A stored record could not be decoded: the store is damaged or was
    /// written by an incompatible version.
    #[error("stored record {key} is corrupt: {message}")]
    Corrupt {
        /// The record's key.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

/// Durable state of the gateway.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The participant with this OIN.
    async fn participant(&self, oin: &str) -> Result<Option<Participant>, StoreError>;

    /// Every participant, ordered by OIN.
    async fn participants(&self) -> Result<Vec<Participant>, StoreError>;

    /// Adds `p` unless its OIN is already present; returns whether it was
    /// added. Atomic: two instances adding the same OIN cannot both succeed.
    async fn insert_participant(&self, p: &Participant) -> Result<bool, StoreError>;

    /// Stores `p` over the entry with its OIN. Durable when it returns.
    async fn put_participant(&self, p: &Participant) -> Result<(), StoreError>;

    /// Makes every write so far durable; called on shutdown.
    async fn flush(&self) -> Result<(), StoreError>;

    /// Bytes the store occupies on disk, for metrics and the Admin service.
    fn size_on_disk(&self) -> Result<u64, StoreError>;
}
