//! The load driver: runs numbered operations with a given concurrency (and,
//! optionally, an offered rate), and collects their latencies.

use std::future::Future;
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What one run measured.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    /// Latency of every operation, in microseconds, sorted.
    pub latencies_us: Vec<u64>,
    /// Payload bytes moved.
    pub bytes: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Messages the operations carried, when an operation carries several
    /// (a batch); 0 when each carries one.
    pub items: u64,
    /// Receipts verified after the run (see `receipts`).
    pub receipts_verified: u64,
}

impl Samples {
    /// Operations completed.
    pub fn ops(&self) -> u64 {
        self.latencies_us.len() as u64
    }

    /// Messages carried: one per operation unless `items` says otherwise.
    pub fn messages(&self) -> u64 {
        if self.items > 0 {
            self.items
        } else {
            self.ops()
        }
    }

    /// Messages per second.
    pub fn rate(&self) -> f64 {
        self.messages() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Payload megabytes (10^6) per second.
    pub fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency below which `p` percent of operations fell, in ms.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let i = ((p / 100.0) * (self.latencies_us.len() - 1) as f64).round() as usize;
        self.latencies_us[i.min(self.latencies_us.len() - 1)] as f64 / 1000.0
    }

    /// The slowest operation, in ms.
    pub fn max_ms(&self) -> f64 {
        self.latencies_us.last().copied().unwrap_or(0) as f64 / 1000.0
    }
}

/// A progress bar on a terminal, nothing otherwise.
pub fn progress(label: &str, total: u64) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{prefix:>10} {bar:40} {pos}/{len}  {per_sec}  eta {eta}",
        )
        .expect("valid template"),
    );
    bar.set_prefix(label.to_owned());
    Some(bar)
}

/// Runs operations `0..n`, `concurrency` at a time. `op(i)` returns the
/// payload bytes it moved. With `rate`, operation i starts no earlier than
/// i / rate seconds after the start (an open-loop offered load).
pub async fn drive<F, Fut>(
    label: &str,
    n: u64,
    concurrency: usize,
    rate: Option<f64>,
    op: F,
) -> anyhow::Result<Samples>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<u64>> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicU64::new(0));
    let bar = progress(label, n);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (op, next, bar) = (op.clone(), next.clone(), bar.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut bytes = 0;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                if let Some(rate) = rate {
                    tokio::time::sleep_until(
                        (start + Duration::from_secs_f64(i as f64 / rate)).into(),
                    )
                    .await;
                }
                let t0 = Instant::now();
                bytes += op(i).await?;
                latencies.push(t0.elapsed().as_micros() as u64);
                if let Some(b) = &bar {
                    b.inc(1);
                }
            }
            Ok::<_, anyhow::Error>((latencies, bytes))
        }));
    }
    let mut samples = Samples::default();
    for t in tasks {
        let (latencies, bytes) = t.await??;
        samples.latencies_us.extend(latencies);
        samples.bytes += bytes;
    }
    samples.elapsed = start.elapsed();
    samples.latencies_us.sort_unstable();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(samples)
}
