//! The sled implementation of [`Store`], the embedded default.
//!
//! sled's own `flush()` writes its buffers but does not fsync the data file in
//! every case on Linux, so each durable write here is followed by an explicit
//! `sync_all()` of the file `db` in the store's folder: only after both does a
//! write survive a power loss or a kill -9 of the process.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use super::{Store, StoreError};
use crate::directory::Participant;

/// Name of the tree that holds participants, keyed by OIN.
const PARTICIPANTS: &str = "participants";

/// The sled store.
#[derive(Clone)]
pub struct SledStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    participants: sled::Tree,
    /// The file sled keeps its data in, held open for fsync.
    data_file: File,
}

fn engine(e: sled::Error) -> StoreError {
    StoreError::Engine(e.to_string())
}

impl SledStore {
    /// Opens (or creates) the store in `dir` with a page cache of
    /// `cache_capacity` bytes.
    pub fn open(dir: &Path, cache_capacity: u64) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)?;
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_capacity)
            .mode(sled::Mode::HighThroughput)
            .open()
            .map_err(engine)?;
        let participants = db.open_tree(PARTICIPANTS).map_err(engine)?;
        let data_file = File::open(dir.join("db"))?;
        // Make the folder entries of a new store durable too.
        File::open(dir)?.sync_all()?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                participants,
                data_file,
            }),
        })
    }

    /// Flushes sled and fsyncs its data file. Blocking: call it off the
    /// async runtime's worker threads.
    fn sync_blocking(inner: &Inner) -> Result<(), StoreError> {
        inner.db.flush().map_err(engine)?;
        inner.data_file.sync_all()?;
        Ok(())
    }

    async fn sync(&self) -> Result<(), StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || Self::sync_blocking(&inner))
            .await
            .map_err(|e| StoreError::Engine(format!("sync task failed: {e}")))?
    }
}

fn decode<T: serde::de::DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        message: e.to_string(),
    })
}

fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("records serialise")
}

#[async_trait]
impl Store for SledStore {
    async fn participant(&self, oin: &str) -> Result<Option<Participant>, StoreError> {
        match self
            .inner
            .participants
            .get(oin.as_bytes())
            .map_err(engine)?
        {
            Some(v) => Ok(Some(decode(oin.as_bytes(), &v)?)),
            None => Ok(None),
        }
    }

    async fn participants(&self) -> Result<Vec<Participant>, StoreError> {
        self.inner
            .participants
            .iter()
            .map(|kv| {
                let (k, v) = kv.map_err(engine)?;
                decode(&k, &v)
            })
            .collect()
    }

    async fn insert_participant(&self, p: &Participant) -> Result<bool, StoreError> {
        let swapped = self
            .inner
            .participants
            .compare_and_swap(p.oin.as_bytes(), None as Option<&[u8]>, Some(encode(p)))
            .map_err(engine)?;
        if swapped.is_err() {
            return Ok(false);
        }
        self.sync().await?;
        Ok(true)
    }

    async fn put_participant(&self, p: &Participant) -> Result<(), StoreError> {
        self.inner
            .participants
            .insert(p.oin.as_bytes(), encode(p))
            .map_err(engine)?;
        self.sync().await
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.sync().await
    }

    fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.inner.db.size_on_disk().map_err(engine)
    }
}
