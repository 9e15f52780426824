//! The store's free-space reserve: before a large payload is written, the
//! room the store has left (free space on its file system, or what its
//! database may still take) is read, and the payload refused when it would
//! eat into `storage.min_free_bytes`. Small payloads always go on, as do
//! pulls, acknowledgements and notices: the reserve is theirs.

use std::sync::Arc;

use crate::config::StorageConfig;
use crate::policy::quota::{SMALL_PAYLOAD_BYTES, fits_reserve};
use crate::service::ServiceError;
use crate::store::{Room, Store};

/// The reserve and the bound of a database store.
#[derive(Debug, Clone, Copy)]
pub struct Reserve {
    /// `storage.min_free_bytes`.
    pub min_free: u64,
    /// `storage.postgres_max_bytes` (0: unbounded).
    pub database_max: u64,
}

impl Reserve {
    /// From the storage section of the configuration.
    pub fn new(storage: &StorageConfig) -> Self {
        Self {
            min_free: storage.min_free_bytes,
            database_max: storage.postgres_max_bytes,
        }
    }

    /// The bytes the store may still take before it reaches its reserve
    /// (negative below it); None for a database without a bound.
    pub fn headroom(&self, room: Room) -> Option<i64> {
        let free = self.free(room)?;
        Some(
            i64::try_from(free).unwrap_or(i64::MAX)
                - i64::try_from(self.min_free).unwrap_or(i64::MAX),
        )
    }

    fn free(&self, room: Room) -> Option<u64> {
        match room {
            Room::Disk { free } => Some(free),
            Room::Database { .. } if self.database_max == 0 => None,
            Room::Database { used } => Some(self.database_max.saturating_sub(used)),
        }
    }

    /// Whether a payload of `bytes` may be written now; RESOURCE_EXHAUSTED
    /// naming the setting otherwise.
    pub async fn admit(&self, store: &Arc<dyn Store>, bytes: u64) -> Result<(), ServiceError> {
        if bytes <= SMALL_PAYLOAD_BYTES {
            return Ok(());
        }
        let room = store.room().await?;
        let Some(free) = self.free(room) else {
            return Ok(());
        };
        if fits_reserve(bytes, free, self.min_free) {
            return Ok(());
        }
        let place = match room {
            Room::Disk { .. } => format!("the gateway's store has {free} bytes free on its disk"),
            Room::Database { used } => format!(
                "the gateway's database takes {used} of its {} bytes (storage.postgres_max_bytes)",
                self.database_max
            ),
        };
        Err(ServiceError::Exhausted(format!(
            "{place} and keeps storage.min_free_bytes ({}) for small messages, pulls and acknowledgements: a payload of {bytes} bytes (over {SMALL_PAYLOAD_BYTES}) cannot be accepted now; try again later, when recipients have pulled what waits",
            self.min_free
        )))
    }
}
