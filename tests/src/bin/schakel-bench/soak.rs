//! The soak: a mixed load for a long while, with the gateway's memory, file
//! descriptors and store size sampled every interval and held to bounds.
//!
//! Schools send signals to the Verwijsindex, which takes them from an inbox
//! stream and acknowledges them; an SWV consults the JGT under a consent it
//! replaces (grant a new one, revoke the old) every half minute, and the JGT
//! pulls and acknowledges; a gemeente keeps an inbox stream open and is
//! suspended and reinstated every minute. The bounds, against the first
//! sample: RSS at most twice it plus 64 MiB or 256 MiB (sled's cache is 64
//! MiB of it), whichever is more, file descriptors at most 64
//! more, and the store at most 16 MiB (sled's first segments) plus 32 KiB
//! per message accepted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use schakel_client::proto as pb;
use schakel_tests::fixtures;
use serde_json::{Value, json};
use tokio::sync::RwLock;

use super::target::Target;
use schakel_tests::process::rss_of;

/// One sample of the gateway's resources.
#[derive(Debug, Clone, Copy)]
struct Sample {
    secs: u64,
    rss: u64,
    fds: u64,
    store: u64,
    accepted: u64,
    delivered: u64,
}

fn fds_of(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64)
}

/// Runs the soak for `duration`, sampling every `every`; the report, and
/// whether every bound held.
pub async fn soak(target: &Target, duration: Duration, every: Duration) -> anyhow::Result<Value> {
    let pid = target.pid().ok_or_else(|| {
        anyhow::anyhow!("the soak needs --spawn: it samples the gateway's process")
    })?;
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(AtomicU64::new(0));
    let delivered = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();

    // Schools send signals; the Verwijsindex streams and acknowledges.
    let school = target.client("school-po").await?;
    let index_oin = target.oin("verwijsindex")?;
    for t in 0..4 {
        let (school, to, stop, accepted) = (
            school.clone(),
            index_oin.clone(),
            stop.clone(),
            accepted.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let r = fixtures::signalering(&format!("soak-{t}-{i}"), &to);
                match school.send(r).await {
                    Ok(_) => {
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) if i < 3 => eprintln!("soak: a signal was refused: {e}"),
                    Err(_) => {}
                }
                i += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }));
    }
    let index = target.client("verwijsindex").await?;
    {
        let (stop, delivered) = (stop.clone(), delivered.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut events) = index.subscribe(32, Duration::from_secs(60)).await else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                };
                while let Ok(Some(Ok(event))) =
                    tokio::time::timeout(Duration::from_millis(500), events.next())
                        .await
                        .map(|e| e.map(|r| r.map_err(|_| ())))
                {
                    if let Some(pb::inbox_event::Event::Delivery(d)) = event.event {
                        let id = d.envelope.map(|e| e.message_id).unwrap_or_default();
                        if index.ack(&id).await.is_ok() {
                            delivered.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                }
            }
        }));
    }

    // The SWV consults the JGT under a consent it replaces every 30 s.
    let swv = target.client("swv").await?;
    let jgt = target.client("jgt").await?;
    let jgt_oin = target.oin("jgt")?;
    let consent = Arc::new(RwLock::new(fixtures::granted(&swv).await));
    {
        let (swv, consent, stop) = (swv.clone(), consent.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                sleep_unless(&stop, Duration::from_secs(30)).await;
                let fresh = fixtures::granted(&swv).await;
                let old = std::mem::replace(&mut *consent.write().await, fresh);
                let _ = swv.revoke_consent(&old, "vervangen").await;
            }
        }));
    }
    {
        let (swv, consent, stop, accepted) =
            (swv.clone(), consent.clone(), stop.clone(), accepted.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let id = consent.read().await.clone();
                if swv
                    .send(fixtures::consult(&format!("soak-c-{i}"), &jgt_oin, &id))
                    .await
                    .is_ok()
                {
                    accepted.fetch_add(1, Ordering::Relaxed);
                }
                i += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }
    {
        let (stop, delivered) = (stop.clone(), delivered.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let got = jgt
                    .pull(64, Duration::from_millis(500), Duration::from_secs(60))
                    .await
                    .unwrap_or_default();
                for d in got {
                    let id = d.envelope.map(|e| e.message_id).unwrap_or_default();
                    if jgt.ack(&id).await.is_ok() {
                        delivered.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }

    // A gemeente with an open stream, suspended and reinstated each minute.
    let gemeente_oin = target.oin("gemeente")?;
    let operator = target.client("operator").await?;
    let gemeente = target.client("gemeente").await?;
    {
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let stream = gemeente.subscribe(4, Duration::from_secs(60)).await;
                sleep_unless(&stop, Duration::from_secs(55)).await;
                let _ = operator.suspend_participant(&gemeente_oin, "soak").await;
                drop(stream);
                sleep_unless(&stop, Duration::from_secs(5)).await;
                let _ = operator.reinstate_participant(&gemeente_oin).await;
            }
        }));
    }

    let started = Instant::now();
    let mut samples = Vec::new();
    loop {
        let rss = rss_of(pid).map_or(0, |r| r.current);
        let sample = Sample {
            secs: started.elapsed().as_secs(),
            rss,
            fds: fds_of(pid),
            store: target.store_bytes().unwrap_or(0),
            accepted: accepted.load(Ordering::Relaxed),
            delivered: delivered.load(Ordering::Relaxed),
        };
        eprintln!(
            "soak {:>4} s: RSS {:.1} MiB, {} fds, store {:.1} MiB, {} accepted, {} delivered",
            sample.secs,
            sample.rss as f64 / 1048576.0,
            sample.fds,
            sample.store as f64 / 1048576.0,
            sample.accepted,
            sample.delivered
        );
        samples.push(sample);
        if started.elapsed() >= duration {
            break;
        }
        tokio::time::sleep(every.min(duration.saturating_sub(started.elapsed()))).await;
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.abort();
    }
    Ok(verdict(&samples))
}

async fn sleep_unless(stop: &AtomicBool, d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until && !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The samples and the bounds, each with whether it held.
fn verdict(samples: &[Sample]) -> Value {
    let first = samples[0];
    let last = samples[samples.len() - 1];
    let max = |f: fn(&Sample) -> u64| samples.iter().map(f).max().unwrap_or(0);
    let rss_bound = (first.rss * 2 + (64 << 20)).max(256 << 20);
    let fds_bound = first.fds + 64;
    let store_bound = first.store + (16 << 20) + last.accepted * 32 * 1024;
    let bounds = json!({
        "rss": {"max": max(|s| s.rss), "bound": rss_bound, "held": max(|s| s.rss) <= rss_bound},
        "fds": {"max": max(|s| s.fds), "bound": fds_bound, "held": max(|s| s.fds) <= fds_bound},
        "store": {"max": max(|s| s.store), "bound": store_bound, "held": max(|s| s.store) <= store_bound},
        "progress": {"accepted": last.accepted, "delivered": last.delivered, "held": last.delivered > 0},
    });
    let held = ["rss", "fds", "store", "progress"]
        .iter()
        .all(|k| bounds[k]["held"] == true);
    json!({
        "scenario": "soak",
        "seconds": last.secs,
        "samples": samples.iter().map(|s| json!({
            "secs": s.secs, "rss_bytes": s.rss, "fds": s.fds, "store_bytes": s.store,
            "accepted": s.accepted, "delivered": s.delivered,
        })).collect::<Vec<_>>(),
        "bounds": bounds,
        "held": held,
    })
}
