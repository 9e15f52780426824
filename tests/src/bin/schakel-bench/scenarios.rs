//! The scenarios: send, batch, roundtrip, dossier, backlog.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use schakel_client::Client;
use schakel_client::proto as pb;
use schakel_proto::examples;
use schakel_proto::examples::contact;

use super::load::{Samples, drive, progress};
use super::receipts::{self, Kept};
use super::target::Target;

/// Settings shared by the scenarios.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Messages to send.
    pub count: u64,
    /// Concurrent senders.
    pub concurrency: usize,
    /// TLS connections the senders share.
    pub connections: usize,
    /// Payload bytes per message.
    pub size: usize,
    /// Offered rate (messages/s), open loop; None: as fast as possible.
    pub rate: Option<f64>,
    /// Concurrent receivers (roundtrip, backlog drain).
    pub receivers: usize,
    /// Where to write each accepted message id as it is answered.
    pub ids_out: Option<std::path::PathBuf>,
    /// Messages per SendBatch (the batch scenario) or AckBatch (the drains
    /// of roundtrip and backlog); None: one call per message.
    pub batch: Option<usize>,
    /// The drains take their messages from a Subscribe stream (pushed as
    /// they arrive) instead of pulling.
    pub subscribe: bool,
}

/// The organisation the consultations go to and that drains them.
pub const RECEIVER: &str = "veilig-thuis";

/// The organisation that sends them.
const SENDER: &str = "school-po";

fn date(days: i64) -> String {
    examples::date(schakel_proto::calendar::dutch_today(), days)
}

/// A request on a statutory basis (no consent lookup) with `body` and
/// `attachments`.
fn statutory(
    reference: String,
    to: &str,
    basis: Option<pb::LegalBasis>,
    body: pb::payload::Body,
    attachments: Vec<pb::Attachment>,
) -> pb::SendRequest {
    let mut r = examples::request(&reference, to, basis, body);
    examples::edit_payload(&mut r, |p| p.attachments = attachments);
    r
}

/// A consultatieverzoek to Veilig Thuis whose question makes the whole
/// request about `size` bytes, on the statutory basis meldrecht_veilig_thuis
/// (declared). A signalering
/// carries no free text by design (about 300 bytes), so the byte-sized
/// scenarios use this kind.
pub fn consult(reference: String, to: &str, size: usize) -> pb::SendRequest {
    let body = pb::payload::Body::Consultatieverzoek(pb::Consultatieverzoek {
        bsn: "111222333".into(),
        question: "x".repeat(size.saturating_sub(330).clamp(1, 4000)),
        urgency: pb::Urgency::Routine as i32,
        requested_role: String::new(),
        respond_by: date(14),
        contact: Some(contact()),
    });
    statutory(reference, to, examples::meldrecht(), body, vec![])
}

/// A PO-VO transfer dossier with one attachment (digest included).
pub fn dossier(reference: String, to: &str, attachment: &pb::Attachment) -> pb::SendRequest {
    let body = pb::payload::Body::Overdrachtsdossier(pb::Overdrachtsdossier {
        profile: pb::DossierProfile::PoVo as i32,
        school_year: "2026-2027".into(),
        pupil: Some(pb::Pupil {
            bsn: "123456782".into(),
            given_names: "Sam".into(),
            family_name: "Jansen".into(),
            birth_date: date(-12 * 365),
        }),
        parents_viewed: true,
        contact: Some(contact()),
        ..Default::default()
    });
    statutory(
        reference,
        to,
        examples::statute(pb::StatutoryBasis::OverdrachtPo),
        body,
        vec![attachment.clone()],
    )
}

async fn clients(target: &Target, org: &str, n: usize) -> anyhow::Result<Vec<Client>> {
    let mut out = Vec::new();
    for _ in 0..n.max(1) {
        out.push(target.client(org).await?);
    }
    Ok(out)
}

/// Writes accepted message ids, one per line, as they are answered.
#[derive(Clone)]
struct IdsOut(Option<Arc<Mutex<std::fs::File>>>);

impl IdsOut {
    fn open(path: Option<&std::path::Path>) -> anyhow::Result<Self> {
        Ok(Self(match path {
            Some(p) => Some(Arc::new(Mutex::new(std::fs::File::create(p)?))),
            None => None,
        }))
    }

    fn write(&self, id: &str) -> anyhow::Result<()> {
        if let Some(f) = &self.0 {
            // One write per line, unbuffered: a crash test reads what was answered.
            f.lock()
                .expect("ids lock")
                .write_all(format!("{id}\n").as_bytes())?;
        }
        Ok(())
    }
}

/// Sends `count` messages built by `build`, returning the samples; the
/// receipts go to `kept`, for the caller to verify once its clock stops.
async fn send_many(
    label: &str,
    target: &Target,
    s: &Settings,
    build: impl Fn(u64, &str) -> pb::SendRequest + Send + Sync + 'static,
    bytes_each: u64,
    kept: &Kept,
) -> anyhow::Result<Samples> {
    let senders = clients(target, SENDER, s.connections).await?;
    let to = target.oin(if label == "dossier" {
        "school-vo"
    } else {
        RECEIVER
    })?;
    let ids = IdsOut::open(s.ids_out.as_deref())?;
    let k = kept.clone();
    drive(label, s.count, s.concurrency, s.rate, move |i| {
        let client = senders[i as usize % senders.len()].clone();
        let request = build(i, &to);
        let (ids, kept) = (ids.clone(), k.clone());
        async move {
            let sent = receipts::send(&client, request, &kept).await?;
            ids.write(&sent.message_id)?;
            Ok(bytes_each)
        }
    })
    .await
}

/// `samples` with the receipts in `kept` verified (and counted), through a
/// client of the sending school.
async fn verified(target: &Target, mut samples: Samples, kept: &Kept) -> anyhow::Result<Samples> {
    samples.receipts_verified += kept.verify_all(&target.client(SENDER).await?).await?;
    Ok(samples)
}

/// `send`: many concurrent senders, durable ACCEPTED answers.
pub async fn send(target: &Target, s: &Settings) -> anyhow::Result<Samples> {
    let kept = Kept::default();
    let samples = consults(target, s, &kept).await?;
    verified(target, samples, &kept).await
}

/// Sends `s.count` consultations of `s.size` bytes, keeping their receipts.
async fn consults(target: &Target, s: &Settings, kept: &Kept) -> anyhow::Result<Samples> {
    let size = s.size;
    let run = uuid::Uuid::now_v7().simple().to_string();
    send_many(
        "send",
        target,
        s,
        move |i, to| consult(format!("send-{run}-{i}"), to, size),
        size as u64,
        kept,
    )
    .await
}

/// `batch`: SendBatch calls of `s.batch` messages, `s.concurrency` calls at
/// once; every item must be accepted. Latencies are per call.
pub async fn batch(target: &Target, s: &Settings) -> anyhow::Result<Samples> {
    let per_call = s.batch.unwrap_or(64).max(1) as u64;
    let (size, count) = (s.size, s.count);
    let calls = count.div_ceil(per_call);
    let senders = clients(target, SENDER, s.connections).await?;
    let to = target.oin(RECEIVER)?;
    let ids = IdsOut::open(s.ids_out.as_deref())?;
    let run = uuid::Uuid::now_v7().simple().to_string();
    let kept = Kept::default();
    let k = kept.clone();
    let mut samples = drive("batch", calls, s.concurrency, s.rate, move |call| {
        let client = senders[call as usize % senders.len()].clone();
        let first = call * per_call;
        let requests: Vec<_> = (first..(first + per_call).min(count))
            .map(|i| consult(format!("batch-{run}-{i}"), &to, size))
            .collect();
        let (n, ids, kept) = (requests.len() as u64, ids.clone(), k.clone());
        async move {
            for id in receipts::send_batch(&client, requests, &kept).await? {
                ids.write(&id)?;
            }
            Ok(n * size as u64)
        }
    })
    .await?;
    samples.items = count;
    verified(target, samples, &kept).await
}

/// `dossier`: large transfer dossiers with one attachment each.
pub async fn dossier_run(target: &Target, s: &Settings) -> anyhow::Result<Samples> {
    // One file, hashed once, as a school system would attach it: the load
    // generator should not spend the machine's CPU re-hashing it per send.
    let attachment = Arc::new(schakel_client::attachment(
        "bijlage.pdf",
        "application/pdf",
        (0..s.size).map(|i| (i * 31 % 251) as u8).collect(),
    ));
    let run = uuid::Uuid::now_v7().simple().to_string();
    let a = attachment.clone();
    let kept = Kept::default();
    let samples = send_many(
        "dossier",
        target,
        s,
        move |i, to| dossier(format!("dossier-{run}-{i}"), to, &a),
        s.size as u64,
        &kept,
    )
    .await?;
    verified(target, samples, &kept).await
}

/// When a roundtrip message was sent, from the start instant, as its client
/// reference says ("rt-RUN-MICROS-I").
fn sent_at_us(reference: &str) -> Option<u64> {
    reference.split('-').nth(2).and_then(|t| t.parse().ok())
}

/// Takes messages from a Subscribe stream as they are pushed and
/// acknowledges each at once, `done` counting all receivers' acks, until
/// `total`; `record` gets each acknowledged message's reference.
async fn subscribed(
    receiver: &Client,
    total: u64,
    done: &std::sync::atomic::AtomicU64,
    kept: &Kept,
    mut record: impl FnMut(&str),
) -> anyhow::Result<()> {
    use futures::StreamExt;
    let mut stream = receiver.subscribe(256, Duration::from_secs(300)).await?;
    let mut acks = futures::stream::FuturesUnordered::new();
    while done.load(std::sync::atomic::Ordering::Relaxed) < total {
        tokio::select! {
            event = tokio::time::timeout(Duration::from_millis(200), stream.next()) => {
                let Ok(event) = event else { continue };
                let event = event.ok_or_else(|| anyhow::anyhow!("the inbox stream ended"))??;
                if let Some(pb::inbox_event::Event::Delivery(d)) = event.event {
                    let env = d.envelope.unwrap_or_default();
                    acks.push(async move {
                        receipts::ack(receiver, env.message_id, kept).await?;
                        Ok::<_, anyhow::Error>(env.client_reference)
                    });
                }
            }
            Some(acked) = acks.next(), if !acks.is_empty() => record(&acked?),
        }
    }
    Ok(())
}

/// Pulls and acknowledges until `total` messages are done; returns the
/// send-to-ack latency of each, in microseconds, measured from the start
/// instant encoded in the client reference.
async fn drain(
    target: &Target,
    total: u64,
    receivers: usize,
    started: Instant,
    ack_batch: Option<usize>,
    subscribe: bool,
    kept: &Kept,
) -> anyhow::Result<Vec<u64>> {
    let receiving = clients(target, RECEIVER, receivers).await?;
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let bar = progress("drain", total);
    let mut tasks = Vec::new();
    for receiver in receiving {
        let (done, bar, kept) = (done.clone(), bar.clone(), kept.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let record = |reference: &str, latencies: &mut Vec<u64>| {
                if let Some(sent_us) = sent_at_us(reference) {
                    latencies.push((started.elapsed().as_micros() as u64).saturating_sub(sent_us));
                }
                done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if let Some(b) = &bar {
                    b.inc(1);
                }
            };
            if subscribe {
                subscribed(&receiver, total, &done, &kept, |r| {
                    record(r, &mut latencies)
                })
                .await?;
                return Ok(latencies);
            }
            while done.load(std::sync::atomic::Ordering::Relaxed) < total {
                let batch = receiver
                    .pull(256, Duration::from_millis(200), Duration::from_secs(300))
                    .await?;
                let references = match ack_batch {
                    Some(per_call) => {
                        let (ids, references): (Vec<String>, Vec<String>) = batch
                            .into_iter()
                            .map(|d| {
                                let env = d.envelope.unwrap_or_default();
                                (env.message_id, env.client_reference)
                            })
                            .unzip();
                        let calls = ids
                            .chunks(per_call.max(1))
                            .map(|chunk| receipts::ack_batch(&receiver, chunk, &kept));
                        futures::future::try_join_all(calls).await?;
                        references
                    }
                    None => {
                        let acks = batch.into_iter().map(|d| {
                            let (receiver, kept) = (&receiver, &kept);
                            async move {
                                let env = d.envelope.unwrap_or_default();
                                receipts::ack(receiver, env.message_id, kept).await?;
                                Ok::<_, anyhow::Error>(env.client_reference)
                            }
                        });
                        futures::future::try_join_all(acks).await?
                    }
                };
                for reference in references {
                    record(&reference, &mut latencies);
                }
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    all.sort_unstable();
    Ok(all)
}

/// `roundtrip`: senders and receivers at once; latency from send to ack.
pub async fn roundtrip(target: &Target, s: &Settings) -> anyhow::Result<Samples> {
    let started = Instant::now();
    let size = s.size;
    let drainer = {
        let (total, receivers, ack_batch, subscribe) = (s.count, s.receivers, s.batch, s.subscribe);
        let t = target.view();
        tokio::spawn(async move {
            let kept = Kept::default();
            let latencies =
                drain(&t, total, receivers, started, ack_batch, subscribe, &kept).await?;
            Ok::<_, anyhow::Error>((latencies, kept, t))
        })
    };
    let run = uuid::Uuid::now_v7().simple().to_string();
    let sends = Kept::default();
    let sent = send_many(
        "roundtrip",
        target,
        s,
        move |i, to| {
            consult(
                format!("rt-{}-{}-{i}", run, started.elapsed().as_micros()),
                to,
                size,
            )
        },
        size as u64,
        &sends,
    )
    .await?;
    let (latencies, acks, t) = drainer.await??;
    let elapsed = started.elapsed();
    let acks_verified = acks.verify_all(&t.client(RECEIVER).await?).await?;
    let samples = Samples {
        latencies_us: latencies,
        bytes: sent.bytes,
        elapsed,
        items: 0,
        receipts_verified: acks_verified,
    };
    verified(target, samples, &sends).await
}

/// What the backlog scenario measured.
pub struct Backlog {
    /// Filling the inbox.
    pub fill: Samples,
    /// From the restart to the first answered call.
    pub startup: Duration,
    /// The gateway's RSS right after the restart, with the backlog queued.
    pub rss_after_restart: Option<u64>,
    /// Draining the inbox (lease and ack).
    pub drain: Samples,
}

/// `backlog`: fill an inbox, restart the gateway, measure start-up and drain.
pub async fn backlog(target: &mut Target, s: &Settings) -> anyhow::Result<Backlog> {
    let sends = Kept::default();
    let fill = consults(target, s, &sends).await?;
    let startup = target.restart().await?;
    let rss_after_restart = target.rss().map(|r| r.current);
    let started = Instant::now();
    let kept = Kept::default();
    let latencies = drain(
        target,
        s.count,
        s.receivers,
        started,
        s.batch,
        s.subscribe,
        &kept,
    )
    .await?;
    let elapsed = started.elapsed();
    let receipts_verified = kept.verify_all(&target.client(RECEIVER).await?).await?;
    let drain = Samples {
        latencies_us: latencies,
        bytes: fill.bytes,
        elapsed,
        items: 0,
        receipts_verified,
    };
    // The fill's receipts are verified last, so that the restart follows
    // the fill as it would without the check.
    let fill = verified(target, fill, &sends).await?;
    Ok(Backlog {
        fill,
        startup,
        rss_after_restart,
        drain,
    })
}
