//! What one sled write costs on this machine, without the gateway: the
//! figures behind docs/PERFORMANCE.md's "sled costs 10–20 µs per insert
//! here" and the choice of one batch per commit group.
//!
//! Applies `P_STEPS` (default 20,000) steps of `KEYS` inserts of 700-byte
//! values (the size of a message record), as one batch each or as plain
//! inserts, with a flush and an fsync every 64 steps like the group committer
//! under load, into a temporary folder.
//!
//! ```sh
//! P_VALUE=16 cargo run --release -p schakel-gateway --example sled_probe -- 13 batch
//! cargo run --release -p schakel-gateway --example sled_probe -- 10 batch
//! cargo run --release -p schakel-gateway --example sled_probe -- 10 plain
//! P_STEPS=313 cargo run --release -p schakel-gateway --example sled_probe -- 640 batch
//! ```

use std::time::{Duration, Instant};

/// Steps unless `P_STEPS` says otherwise.
const STEPS: usize = 20_000;
/// Steps per flush and fsync.
const GROUP: usize = 64;

fn steps() -> usize {
    std::env::var("P_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(STEPS)
}

/// Bytes per value unless `P_VALUE` says otherwise (the size of a message
/// record).
fn value_size() -> usize {
    std::env::var("P_VALUE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(700)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let keys: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(10);
    let batched = args.next().as_deref() != Some("plain");
    let tmp = tempfile::tempdir()?;
    let db = sled::Config::new()
        .path(tmp.path())
        .cache_capacity(64 << 20)
        .mode(sled::Mode::HighThroughput)
        .flush_every_ms(None)
        .open()?;
    let tree = db.open_tree("probe")?;
    let data_file = std::fs::File::open(tmp.path().join("db"))?;
    let value = vec![7u8; value_size()];
    let started = Instant::now();
    let mut flushing = Duration::ZERO;
    for step in 0..steps() {
        let mut batch = sled::Batch::default();
        for k in 0..keys {
            let mut key = vec![b'a' + (k % 26) as u8];
            key.extend_from_slice(&(step as u64).to_be_bytes());
            key.extend_from_slice(&(k as u32).to_be_bytes());
            if batched {
                batch.insert(key, &value[..]);
            } else {
                tree.insert(key, &value[..])?;
            }
        }
        if batched {
            tree.apply_batch(batch)?;
        }
        if step % GROUP == GROUP - 1 {
            let t = Instant::now();
            db.flush()?;
            data_file.sync_all()?;
            flushing += t.elapsed();
        }
    }
    let applying = started.elapsed() - flushing;
    println!(
        "{keys} keys per step ({}): {:.1} µs per step, {:.1} µs per insert; \
         {:.2} ms per flush and fsync; {} MiB on disk",
        if batched {
            "one batch"
        } else {
            "plain inserts"
        },
        applying.as_micros() as f64 / steps() as f64,
        applying.as_micros() as f64 / (steps() * keys) as f64,
        flushing.as_secs_f64() * 1e3 / (steps() / GROUP).max(1) as f64,
        db.size_on_disk()? >> 20
    );
    Ok(())
}
