//! What an append-only, group-committed log costs on this machine, beside
//! `sled_probe`: the figures behind docs/PERFORMANCE.md's "what the next
//! store layout can reach". Appends `P_STEPS` (default 200,000) frames of
//! `P_VALUE` bytes (default 1,400: a 1 KiB payload, its record and its audit
//! entry) with a length and a CRC, in groups of `P_GROUP` (default 64), each
//! group written with one `write` and made durable with one `fdatasync`,
//! into a temporary folder; then reads every frame back and checks it.
//!
//! ```sh
//! cargo run --release -p schakel-gateway --example log_probe
//! P_GROUP=512 cargo run --release -p schakel-gateway --example log_probe
//! ```

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// A frame: length (4 bytes), CRC-32 of the body (4 bytes), the body.
fn frame(out: &mut Vec<u8>, body: &[u8]) {
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32(body).to_be_bytes());
    out.extend_from_slice(body);
}

fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (steps, size, group) = (
        setting("P_STEPS", 200_000),
        setting("P_VALUE", 1400),
        setting("P_GROUP", 64).max(1),
    );
    let tmp = tempfile::tempdir()?;
    let path = tmp.path().join("log");
    let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
    let body: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let mut buffer = Vec::with_capacity(group * (size + 8));
    let (started, mut syncing) = (Instant::now(), Duration::ZERO);
    let mut syncs = Vec::with_capacity(steps / group + 1);
    for step in 0..steps {
        frame(&mut buffer, &body);
        if step % group == group - 1 || step == steps - 1 {
            file.write_all(&buffer)?;
            buffer.clear();
            let t = Instant::now();
            file.sync_data()?;
            syncs.push(t.elapsed());
            syncing += t.elapsed();
        }
    }
    let elapsed = started.elapsed();
    let groups = steps.div_ceil(group);
    // Read back and check every frame.
    let mut all = Vec::new();
    std::fs::File::open(&path)?.read_to_end(&mut all)?;
    let (mut at, mut frames) = (0, 0);
    while at < all.len() {
        let len = u32::from_be_bytes(all[at..at + 4].try_into()?) as usize;
        let crc = u32::from_be_bytes(all[at + 4..at + 8].try_into()?);
        assert_eq!(crc32(&all[at + 8..at + 8 + len]), crc, "frame {frames}");
        at += 8 + len;
        frames += 1;
    }
    assert_eq!(frames, steps);
    syncs.sort_unstable();
    let at = |p: f64| syncs[((syncs.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
    println!(
        "{steps} frames of {size} bytes in groups of {group}: {:.0} frames/s, {:.1} µs per frame \
         ({:.1} µs of it framing and writing); {:.2} ms per fdatasync (p99 {:.2} ms, max {:.2} ms); {} MiB",
        steps as f64 / elapsed.as_secs_f64(),
        elapsed.as_micros() as f64 / steps as f64,
        (elapsed - syncing).as_micros() as f64 / steps as f64,
        syncing.as_secs_f64() * 1e3 / groups as f64,
        at(0.99),
        at(1.0),
        all.len() >> 20
    );
    Ok(())
}
