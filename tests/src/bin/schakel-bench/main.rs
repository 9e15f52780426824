//! `schakel-bench`: measures a gateway against its two ceilings, the bare
//! mutual-TLS echo (transport) and the store alone (storage), in the same
//! run on the same machine, and prints each figure beside them as a ratio.
//!
//! It lives apart from the `schakel` command line because its storage
//! ceiling runs the gateway's own store, and a school's system that runs
//! `schakel` should not carry the gateway with it. docs/PERFORMANCE.md has
//! the commands and the current figures.

mod echo;
mod load;
mod nats;
mod receipts;
mod scenarios;
mod soak;
mod storage;
mod target;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use serde_json::{Value, json};

use load::Samples;
use scenarios::Settings;
use target::Target;

/// Which scenario to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Many concurrent senders; durable ACCEPTED answers.
    Send,
    /// SendBatch calls of --batch messages (default 64), --concurrency of
    /// them at once (default 8); every item answered ACCEPTED.
    Batch,
    /// Senders and receivers at once: send, pull, ack; latency send to ack.
    Roundtrip,
    /// Large transfer dossiers with an attachment (default 8 MiB).
    Dossier,
    /// Fill an inbox, restart the gateway, measure start-up and drain.
    Backlog,
    /// A mixed load for --seconds (default 600), with RSS, file descriptors
    /// and store size sampled every 10 s and held to bounds (--spawn only).
    Soak,
}

/// Measure a Schakel gateway against the bare mTLS echo and the store alone.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct BenchArgs {
    /// The running gateway to measure (without --spawn).
    #[arg(
        long,
        env = "SCHAKEL_GATEWAY",
        default_value = "https://127.0.0.1:7443"
    )]
    gateway: String,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// The scenario.
    #[arg(value_enum)]
    scenario: Scenario,
    /// Start a gateway for the run, on a fresh PKI and a temporary data folder
    /// (needed for RSS, store size and the backlog restart).
    #[arg(long)]
    spawn: bool,
    /// With --spawn: where the gateway keeps its store; postgres starts a
    /// PostgreSQL server of the system's packages for the run (fsync on),
    /// and measures the storage ceiling on it too.
    #[arg(long, value_enum, default_value = "sled", requires = "spawn")]
    store: target::Engine,
    /// With --spawn --store postgres: gateway instances sharing the
    /// database, clients spread over them connection by connection.
    #[arg(long, default_value_t = 1, requires = "spawn")]
    instances: usize,
    /// Measure a gateway this run did not start (without --spawn): it fills
    /// that gateway's inboxes with thousands of test messages, so it must be
    /// said on purpose.
    #[arg(long, conflicts_with = "spawn")]
    yes_real_gateway: bool,
    /// Identity folders of the running gateway's PKI (without --spawn).
    #[arg(long, default_value = "certs-example")]
    pki: PathBuf,
    /// Messages to send (default: send 20000, roundtrip 20000, dossier 32, backlog 1000000).
    #[arg(long)]
    count: Option<u64>,
    /// Concurrent senders (default: 64; dossier 4).
    #[arg(long)]
    concurrency: Option<usize>,
    /// TLS connections the senders share.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Payload bytes per message (default: 1024; dossier 8 MiB).
    #[arg(long)]
    size: Option<usize>,
    /// Offered load in messages per second (open loop); default: as fast as possible.
    #[arg(long)]
    rate: Option<f64>,
    /// Concurrent receivers for roundtrip and backlog.
    #[arg(long, default_value_t = 4)]
    receivers: usize,
    /// Messages per SendBatch call (batch; default 64), or per AckBatch call
    /// in the drains of roundtrip and backlog (default: one Ack per message).
    #[arg(long)]
    batch: Option<usize>,
    /// The receivers of roundtrip and backlog take their messages from a
    /// Subscribe stream (pushed as they arrive) instead of pulling.
    #[arg(long)]
    subscribe: bool,
    /// Skip the NATS JetStream peer (measured beside send and batch when
    /// nats-server is installed).
    #[arg(long)]
    no_nats: bool,
    /// Write each ACCEPTED message id to this file as it is answered.
    #[arg(long)]
    ids_out: Option<PathBuf>,
    /// Skip the two ceilings.
    #[arg(long)]
    no_ceilings: bool,
    /// How long the soak runs, in seconds.
    #[arg(long, default_value_t = 600)]
    seconds: u64,
    /// Seconds between the soak's samples.
    #[arg(long, default_value_t = 10)]
    sample_every: u64,
}

fn settings(a: &BenchArgs) -> Settings {
    let (count, concurrency, size) = match a.scenario {
        Scenario::Send | Scenario::Roundtrip => (20_000, 64, 1024),
        Scenario::Batch => (20_000, 8, 1024),
        Scenario::Dossier => (32, 4, 8 * 1024 * 1024),
        Scenario::Backlog => (1_000_000, 64, 1024),
        Scenario::Soak => (0, 0, 0),
    };
    Settings {
        count: a.count.unwrap_or(count),
        concurrency: a.concurrency.unwrap_or(concurrency),
        connections: a.connections,
        size: a.size.unwrap_or(size),
        rate: a.rate,
        receivers: a.receivers,
        ids_out: a.ids_out.clone(),
        subscribe: a.subscribe,
        batch: match a.scenario {
            Scenario::Batch => Some(a.batch.unwrap_or(64)),
            _ => a.batch,
        },
    }
}

fn latency(s: &Samples) -> Value {
    json!({"p50": s.percentile_ms(50.0), "p90": s.percentile_ms(90.0), "p99": s.percentile_ms(99.0), "max": s.max_ms()})
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| (a / b * 1000.0).round() / 1000.0)
}

/// Samples the gateway's RSS every 20 ms while a scenario runs; the peak.
fn rss_sampler(
    pid_rss: impl Fn() -> Option<u64> + Send + 'static,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<u64>,
) {
    let (tx, mut rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let mut peak = 0;
        loop {
            peak = peak.max(pid_rss().unwrap_or(0));
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                _ = &mut rx => return peak,
            }
        }
    });
    (tx, task)
}

fn main() -> std::process::ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = BenchArgs::parse();
    let result = tokio::runtime::Runtime::new()
        .map_err(anyhow::Error::from)
        .and_then(|r| r.block_on(run(args)));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs the benchmark and prints its report.
async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let s = settings(&args);
    let mut target = if args.spawn {
        anyhow::ensure!(
            args.instances == 1 || !matches!(args.scenario, Scenario::Backlog | Scenario::Soak),
            "the backlog and soak scenarios measure one gateway: leave --instances at 1"
        );
        Target::spawn(args.store, args.instances.max(1)).await?
    } else if args.yes_real_gateway {
        Target::external(&args.gateway, &args.pki)
    } else {
        anyhow::bail!(
            "the benchmark puts thousands of test messages into the inboxes of the gateway at {}: run it with --spawn to measure a gateway of its own, or add --yes-real-gateway if that gateway is a test gateway you may fill",
            args.gateway
        );
    };
    if args.scenario == Scenario::Soak {
        let report = soak::soak(
            &target,
            Duration::from_secs(args.seconds),
            Duration::from_secs(args.sample_every.max(1)),
        )
        .await?;
        if args.json {
            println!("{report}");
        } else {
            println!("soak: {}", serde_json::to_string_pretty(&report["bounds"])?);
        }
        anyhow::ensure!(
            report["held"] == true,
            "a soak bound was broken: {}",
            report["bounds"]
        );
        return Ok(());
    }
    let rss_before = target.rss().map(|r| r.current);
    // The pid changes when the backlog scenario restarts the gateway; the
    // sampler follows the first process, whose peak is the one that matters
    // for the scenarios that do not restart.
    let pid = target.pid();
    let pid_rss = move || pid.and_then(|p| schakel_tests::process::rss_of(p).map(|r| r.current));
    let (stop_rss, rss_task) = rss_sampler(pid_rss);
    let mut report = json!({
        "scenario": format!("{:?}", args.scenario).to_lowercase(),
        "store": format!("{:?}", args.store).to_lowercase(), "instances": target.urls.len(),
        "messages": s.count, "concurrency": s.concurrency, "connections": s.connections,
        "payload_bytes": s.size, "offered_rate": s.rate, "batch": s.batch, "subscribe": s.subscribe,
    });
    let main: Samples = match args.scenario {
        Scenario::Send => scenarios::send(&target, &s).await?,
        Scenario::Batch => scenarios::batch(&target, &s).await?,
        Scenario::Roundtrip => scenarios::roundtrip(&target, &s).await?,
        Scenario::Dossier => scenarios::dossier_run(&target, &s).await?,
        Scenario::Soak => unreachable!("run above"),
        Scenario::Backlog => {
            let b = scenarios::backlog(&mut target, &s).await?;
            report["fill_msgs_per_s"] = json!(b.fill.rate());
            report["startup_secs"] = json!(b.startup.as_secs_f64());
            report["rss_after_restart_bytes"] = json!(b.rss_after_restart);
            report["drain_msgs_per_s"] = json!(b.drain.rate());
            report["drain_receipts_verified"] = json!(b.drain.receipts_verified);
            b.fill
        }
    };
    let _ = stop_rss.send(());
    let rss_peak_sampled = rss_task.await.unwrap_or(0);
    report["msgs_per_s"] = json!(main.rate());
    report["receipts_verified"] = json!(main.receipts_verified);
    report["mb_per_s"] = json!(main.mb_per_s());
    report["latency_ms"] = latency(&main);
    report["gateway_peak_rss_bytes"] = json!(target.rss().map(|r| r.peak));
    report["gateway_rss_before_bytes"] = json!(rss_before);
    report["gateway_rss_peak_during_bytes"] = json!(Some(rss_peak_sampled).filter(|p| *p > 0));
    if let (Some(before), true) = (rss_before, rss_peak_sampled > 0) {
        let growth = rss_peak_sampled.saturating_sub(before);
        let in_flight = (s.concurrency
            * s.batch
                .filter(|_| args.scenario == Scenario::Batch)
                .unwrap_or(1)
            * s.size) as u64;
        report["gateway_rss_growth_bytes"] = json!(growth);
        report["in_flight_bytes"] = json!(in_flight);
        report["rss_growth_per_in_flight_byte"] = json!(ratio(growth as f64, in_flight as f64));
    }
    report["store_bytes_on_disk"] = json!(target.store_bytes());

    if !args.no_ceilings && args.scenario != Scenario::Backlog {
        let n = s.count.min(if s.size > 1 << 20 { 64 } else { 20_000 });
        // The ceilings are unary, with as many messages in flight as the
        // gateway had (a batch scenario's calls times their size).
        let in_flight = match args.scenario {
            Scenario::Batch => s.concurrency * s.batch.unwrap_or(1),
            _ => s.concurrency,
        };
        let echo = echo::measure(&target.pki, n, in_flight, s.connections, s.size).await?;
        let store = storage::measure(n, in_flight, s.size, target.database().as_deref()).await?;
        report["echo"] = json!({"msgs_per_s": echo.rate(), "mb_per_s": echo.mb_per_s(), "latency_ms": latency(&echo)});
        report["storage"] = json!({"msgs_per_s": store.rate(), "mb_per_s": store.mb_per_s(), "latency_ms": latency(&store)});
        report["ratio_to_echo"] = json!(ratio(main.rate(), echo.rate()));
        report["ratio_to_storage"] = json!(ratio(main.rate(), store.rate()));
    }
    if !args.no_nats && matches!(args.scenario, Scenario::Send | Scenario::Batch) {
        if nats::available() {
            // As many messages in flight as the gateway had.
            let in_flight = s.concurrency * s.batch.unwrap_or(1);
            let peer =
                nats::measure(&target.pki, s.count, in_flight, s.connections, s.size).await?;
            report["nats"] = json!({"msgs_per_s": peer.rate(), "mb_per_s": peer.mb_per_s(), "latency_ms": latency(&peer), "in_flight": in_flight, "fsync_per_message": false});
            report["ratio_to_nats"] = json!(ratio(main.rate(), peer.rate()));
        } else {
            eprintln!(
                "note: nats-server is not installed, so the NATS JetStream peer was not measured (Debian: apt-get install nats-server)"
            );
        }
    }
    if args.json {
        println!("{report}");
    } else {
        print_table(&report);
    }
    Ok(())
}

fn print_table(r: &Value) {
    let f = |v: &Value| match v {
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(0.0);
            if x.fract() == 0.0 {
                format!("{x:.0}")
            } else {
                format!("{x:.2}")
            }
        }
        Value::Null => "-".into(),
        other => other.to_string(),
    };
    let mib = |v: &Value| {
        v.as_f64()
            .map(|b| format!("{:.1} MiB", b / 1048576.0))
            .unwrap_or_else(|| "-".into())
    };
    println!(
        "scenario {} over {} ({} instance(s)): {} messages of {} bytes, concurrency {}, {} connections",
        f(&r["scenario"]),
        r["store"].as_str().unwrap_or("-"),
        f(&r["instances"]),
        f(&r["messages"]),
        f(&r["payload_bytes"]),
        f(&r["concurrency"]),
        f(&r["connections"])
    );
    println!(
        "{:<28} {:>12} {:>12} {:>12}",
        "", "gateway", "mTLS echo", "store only"
    );
    println!(
        "{:<28} {:>12} {:>12} {:>12}",
        "messages/s",
        f(&r["msgs_per_s"]),
        f(&r["echo"]["msgs_per_s"]),
        f(&r["storage"]["msgs_per_s"])
    );
    println!(
        "{:<28} {:>12} {:>12} {:>12}",
        "MB/s",
        f(&r["mb_per_s"]),
        f(&r["echo"]["mb_per_s"]),
        f(&r["storage"]["mb_per_s"])
    );
    for p in ["p50", "p90", "p99", "max"] {
        println!(
            "{:<28} {:>12} {:>12} {:>12}",
            format!("latency {p} (ms)"),
            f(&r["latency_ms"][p]),
            f(&r["echo"]["latency_ms"][p]),
            f(&r["storage"]["latency_ms"][p])
        );
    }
    println!("{:<28} {:>12} {:>12}", "ratio to ceiling", "", "");
    println!(
        "{:<28} {:>12} {:>12} {:>12}",
        "",
        "",
        f(&r["ratio_to_echo"]),
        f(&r["ratio_to_storage"])
    );
    if !r["nats"].is_null() {
        println!(
            "NATS JetStream (file store, mutual TLS, acknowledged publish, {} in flight, no fsync per message): {} msgs/s, p99 {} ms; gateway / NATS {}",
            f(&r["nats"]["in_flight"]),
            f(&r["nats"]["msgs_per_s"]),
            f(&r["nats"]["latency_ms"]["p99"]),
            f(&r["ratio_to_nats"])
        );
    }
    println!(
        "gateway peak RSS {}  (before {}, peak during {}); store on disk {}",
        mib(&r["gateway_peak_rss_bytes"]),
        mib(&r["gateway_rss_before_bytes"]),
        mib(&r["gateway_rss_peak_during_bytes"]),
        mib(&r["store_bytes_on_disk"])
    );
    if !r["rss_growth_per_in_flight_byte"].is_null() {
        println!(
            "RSS growth {} for {} in flight: {} per byte in flight",
            mib(&r["gateway_rss_growth_bytes"]),
            mib(&r["in_flight_bytes"]),
            f(&r["rss_growth_per_in_flight_byte"])
        );
    }
    if !r["startup_secs"].is_null() {
        println!(
            "backlog: fill {} msgs/s; restart to first answer {} s; RSS after restart {}; drain {} msgs/s",
            f(&r["fill_msgs_per_s"]),
            f(&r["startup_secs"]),
            mib(&r["rss_after_restart_bytes"]),
            f(&r["drain_msgs_per_s"])
        );
    }
}
