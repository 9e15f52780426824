//! The storage ceiling: the gateway's own store accepting the same records
//! (metadata, encrypted payload of the same size, signed receipt, audit
//! entry) with the same group commit (flush and fsync; or one transaction
//! per group over PostgreSQL), concurrently, but without network, TLS, gRPC
//! or validation.

use std::sync::Arc;

use schakel_gateway::clock::Clock;
use schakel_gateway::crypto::{ChildRef, PayloadKey, SigningKey, sha256};
use schakel_gateway::model::{
    Action, CaseId, Draft, Kind, LegalBasis, MessageHead, MessageId, MessageRecord, Oin, Statute,
    Terms,
};
use schakel_gateway::policy::quota::Quotas;
use schakel_gateway::store::postgres::PostgresStore;
use schakel_gateway::store::postgres::scratch::Scratch;
use schakel_gateway::store::sled::SledStore;
use schakel_gateway::store::{NewMessage, Store};

use super::load::{Samples, drive};

/// Quotas the benchmark never reaches.
const UNBOUNDED: Quotas = Quotas {
    inbox_messages: u64::MAX,
    inbox_bytes: u64::MAX,
    sender_bytes: u64::MAX,
};

/// Measures `n` accepts of `size`-byte payloads, `concurrency` at a time,
/// on a sled store of its own, or with `database`, on a PostgreSQL store in
/// a database of its own on that server.
pub async fn measure(
    n: u64,
    concurrency: usize,
    size: usize,
    database: Option<&Scratch>,
) -> anyhow::Result<Samples> {
    let tmp = tempfile::tempdir()?;
    let signer = Arc::new(SigningKey::load_or_create(tmp.path())?);
    let sealing = schakel_gateway::store::sealing::Sealing::open(
        tmp.path(),
        1825,
        schakel_gateway::clock::Clock::system().now_ms(),
    )?;
    let mut sled = None;
    let store: Arc<dyn Store> = match database {
        None => {
            let opened = Arc::new(SledStore::open(
                &tmp.path().join("store"),
                64 << 20,
                signer,
                sealing,
            )?);
            sled = Some(opened.clone());
            opened
        }
        Some(pg) => {
            let name = format!("ceiling{}", uuid::Uuid::now_v7().simple());
            pg.ensure_database(&name).await;
            Arc::new(PostgresStore::open(pg.target(&name), signer, sealing).await?)
        }
    };
    let payload_key = Arc::new(PayloadKey::load_or_create(tmp.path())?);
    let payload = vec![7u8; size];
    let sender = Oin::parse("00000099100000000001")?;
    let recipient = Oin::parse("00000099500000000001")?;
    let samples = drive("storage", n, concurrency, None, move |i| {
        let (store, payload_key, payload) = (store.clone(), payload_key.clone(), payload.clone());
        let (sender, recipient) = (sender.clone(), recipient.clone());
        async move {
            let id = MessageId::new_v7();
            let now = Clock::system().now_ms();
            let record = MessageRecord::new(MessageHead {
                id: id.clone(),
                sender,
                recipient,
                client_reference: format!("ceiling-{i}"),
                kind: Kind::Consultatieverzoek,
                case_id: CaseId::new_v7(),
                case_reference: String::new(),
                in_reply_to: None,
                legal_basis: LegalBasis::Statute(Statute::MeldrechtVeiligThuis),
                terms: Terms {
                    purpose: None,
                    necessity_declared: true,
                },
                child_ref: Some(ChildRef([0; 32])),
                created_at_ms: now,
                expires_at_ms: now + 86_400_000,
                overdue_at_ms: Some(now + 3 * 86_400_000),
                lapses_at_ms: None,
                payload_digest: sha256(&payload),
                request_digest: sha256(id.as_str().as_bytes()),
                payload_bytes: payload.len() as u64,
            });
            let draft = Draft::about(record.sender.clone(), Action::SendAccepted, &record);
            let sealed_payload = payload_key.seal(id.as_str(), payload.clone())?;
            let message = NewMessage::new(record, sealed_payload);
            store.accept(message, draft, UNBOUNDED, now).await?;
            Ok(payload.len() as u64)
        }
    })
    .await?;
    if let Some(sled) = sled.filter(|_| std::env::var_os("SCHAKEL_BENCH_DEBUG").is_some()) {
        use std::sync::atomic::Ordering::Relaxed;
        let st = sled.commit_stats();
        let flushes = st.flushes.load(Relaxed).max(1);
        eprintln!(
            "storage ceiling: {} commits in {} flushes ({:.1} per flush), {:.2} ms per flush, {:.0} µs applying each step",
            st.requests.load(Relaxed),
            flushes,
            st.requests.load(Relaxed) as f64 / flushes as f64,
            st.flush_nanos.load(Relaxed) as f64 / flushes as f64 / 1e6,
            st.apply_nanos.load(Relaxed) as f64 / st.requests.load(Relaxed).max(1) as f64 / 1e3
        );
    }
    Ok(samples)
}
