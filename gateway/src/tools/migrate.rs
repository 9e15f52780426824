//! `schakel-gateway migrate --from sled --to postgres`: moves a single
//! gateway's store into the PostgreSQL database that several gateways will
//! share. The gateway must be stopped. Its audit chain arrives as written
//! (sequence numbers, hashes, checkpoints), and the copy is checked before
//! the command says it is done: the database holds as many of everything
//! as the store did, its chain ends where the store's does, and the whole
//! chain verifies with the data folder's keys.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use schakel_proto::audit::Verdict;

use crate::config::StorageConfig;
use crate::crypto::{
    CHILD_KEY_FILE, ChildKey, GatewayKeys, PAYLOAD_KEY_FILE, PayloadKey, SIGNING_KEY_FILE,
};
use crate::service::audit_chain::verify_chain;
use crate::service::shared_keys::ensure_same_keys;
use crate::store::copy::Tally;
use crate::store::engine::{STORE_DIR, database_name, target};
use crate::store::postgres::PostgresStore;
use crate::store::sealing::Sealing;
use crate::store::sled::SledStore;
use crate::store::{Store, StoreError};

/// Items read but not yet taken by the writer, at most.
const QUEUED: usize = 8;

/// How often a long copy says how far it is.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// What a finished copy holds, and the verdict on its chain.
#[derive(Debug)]
pub struct Migrated {
    /// How many of each were copied (and are in the database).
    pub tally: Tally,
    /// The copied chain's verification.
    pub verdict: Verdict,
    /// Where the copy is, for the operator.
    pub database: String,
}

/// Copies the sled store in `storage.data_dir` into the PostgreSQL
/// database of `storage.postgres_url`, which must be empty, and checks the
/// copy; `progress` gets a line every few seconds of a long copy. The
/// store's own chain is verified first: a broken chain is not copied.
/// Child references are sealed for `retention_days` (`audit.retention_days`).
pub async fn sled_to_postgres(
    storage: &StorageConfig,
    retention_days: u64,
    mut progress: impl FnMut(String),
) -> anyhow::Result<Migrated> {
    let data = &storage.data_dir;
    if storage.postgres_url.trim().is_empty() {
        bail!(
            "storage.postgres_url is not set: set it (or SCHAKEL_STORAGE__POSTGRES_URL) to the empty database to copy into"
        );
    }
    for file in [SIGNING_KEY_FILE, CHILD_KEY_FILE, PAYLOAD_KEY_FILE] {
        if !data.join(file).is_file() {
            bail!(
                "{} holds no {file}: storage.data_dir must be the data folder of the gateway whose store is to be copied",
                data.display()
            );
        }
    }
    if !data.join(STORE_DIR).is_dir() {
        bail!("{} holds no store ({STORE_DIR}/)", data.display());
    }
    let signing = GatewayKeys::load(data)?;
    let ring = signing.ring();
    let child = ChildKey::load_or_create(data)?;
    let payload = PayloadKey::load_or_create(data)?;
    let signing = Arc::new(signing);
    let sealing = Sealing::open(data, retention_days, crate::clock::Clock::system().now_ms())?;

    let sled = SledStore::open(
        &data.join(STORE_DIR),
        64 << 20,
        signing.clone(),
        sealing.clone(),
    )
    .with_context(|| format!("cannot open the store in {}", data.display()))?;
    let (head, _) = sled.audit_head().await?;
    let start = sled.audit_start().await?;
    progress(format!(
        "verifying the audit chain of the store in {} ({} entries) before the copy",
        data.display(),
        head.saturating_sub(start - 1)
    ));
    let before = verify_chain(&sled, &ring, 1, head).await?;
    if !before.ok() {
        bail!(
            "the store's own audit chain is broken at entry {} ({}); nothing was copied. Run `schakel-gateway audit verify` and see docs/OPERATIONS.md before you move this store",
            before.first_broken.unwrap_or_default(),
            before.problem
        );
    }

    let database = format!("PostgreSQL database {:?}", database_name(storage));
    let pg = PostgresStore::open(target(storage), signing.clone(), sealing)
        .await
        .with_context(|| format!("cannot open {database} (storage.postgres_url)"))?;
    // The database records this folder's keys, so that only gateways that
    // hold copies of them can start on it.
    ensure_same_keys(&pg, &signing, &child, &payload, true)
        .await
        .map_err(anyhow::Error::msg)?;

    progress(format!("copying into {database}"));
    // A few items between reader and writer: with the writer's round (at
    // most 32 MiB of payloads, or 256 items), the copy holds no more than
    // about 32 MiB and eight messages' payloads in memory, whatever the
    // store's size.
    let (sink, source) = tokio::sync::mpsc::channel(QUEUED);
    let reader = {
        let sled = sled.clone();
        tokio::task::spawn_blocking(move || sled.export(&sink))
    };
    let mut last = Instant::now();
    let copied = pg
        .import(source, |so_far| {
            if last.elapsed() >= PROGRESS_EVERY {
                last = Instant::now();
                progress(format!("copied so far: {so_far}"));
            }
        })
        .await;
    reader.await.context("the store's reader stopped")?;
    let tally = copied.map_err(|e| match e {
        StoreError::Engine(e) => anyhow::anyhow!("the copy failed: {e}"),
        e => anyhow::Error::new(e)
            .context("the copy failed; the database holds nothing of the store (only the proof of this folder's keys)"),
    })?;

    progress(format!("copied {tally}; checking the copy in the database"));
    let held = pg.tally().await?;
    let mut problems = Vec::new();
    if held != tally {
        problems.push(format!("the database holds {held}, not {tally}"));
    }
    let copied_head = (pg.audit_head().await?.0, pg.audit_start().await?);
    if copied_head != (head, start) {
        problems.push(format!(
            "its chain runs from entry {} to {}, the store's from {start} to {head}",
            copied_head.1, copied_head.0
        ));
    }
    if head > 0 && pg.audit_entries(head, 1).await? != sled.audit_entries(head, 1).await? {
        problems.push(format!("its entry {head} is not the store's"));
    }
    let verdict = verify_chain(&pg, &ring, 1, head).await?;
    if !verdict.ok() {
        problems.push(format!(
            "its audit chain is broken at entry {}: {}",
            verdict.first_broken.unwrap_or_default(),
            verdict.problem
        ));
    }
    pg.flush().await?;
    sled.flush().await?;
    if !problems.is_empty() {
        bail!(
            "the copy in {database} does not match the store: {}. Start no gateway on it: drop the database, create it empty, and copy again",
            problems.join("; ")
        );
    }
    Ok(Migrated {
        tally,
        verdict,
        database,
    })
}
