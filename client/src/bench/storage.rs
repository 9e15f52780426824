//! The storage ceiling: the gateway's own sled store accepting the same
//! records (metadata, encrypted payload of the same size, signed receipt,
//! audit entry) with the same group commit (flush and fsync), concurrently,
//! but without network, TLS, gRPC or validation.

use std::sync::Arc;

use schakel_gateway::audit::{Action, Draft};
use schakel_gateway::crypto::{PayloadKey, SigningKey};
use schakel_gateway::message::{Kind, LegalBasis, MessageRecord, State, Statute};
use schakel_gateway::store::sled_store::SledStore;
use schakel_gateway::store::{NewMessage, Store};

use super::load::{Samples, drive};

/// Measures `n` accepts of `size`-byte payloads, `concurrency` at a time.
pub async fn measure(n: u64, concurrency: usize, size: usize) -> anyhow::Result<Samples> {
    let tmp = tempfile::tempdir()?;
    let signer = Arc::new(SigningKey::load_or_create(tmp.path())?);
    let sled = Arc::new(SledStore::open(
        &tmp.path().join("store"),
        64 << 20,
        signer,
    )?);
    let store: Arc<dyn Store> = sled.clone();
    let payload_key = Arc::new(PayloadKey::load_or_create(tmp.path())?);
    let payload = vec![7u8; size];
    let samples = drive("storage", n, concurrency, None, move |i| {
        let (store, payload_key, payload) = (store.clone(), payload_key.clone(), payload.clone());
        async move {
            let id = uuid::Uuid::now_v7().to_string();
            let now = schakel_gateway::exchange::now_ms();
            let record = MessageRecord {
                id: id.clone(),
                sender: "00000099100000000001".into(),
                recipient: "00000099300000000001".into(),
                client_reference: format!("ceiling-{i}"),
                kind: Kind::Consultatieverzoek,
                case_id: String::new(),
                in_reply_to: String::new(),
                legal_basis: LegalBasis::Statute(Statute::MeldrechtVeiligThuis),
                child_ref: Some("0".repeat(64)),
                created_at_ms: now,
                expires_at_ms: now + 86_400_000,
                payload_digest: hex::encode(schakel_gateway::crypto::sha256(&payload)),
                request_digest: hex::encode(schakel_gateway::crypto::sha256(id.as_bytes())),
                payload_bytes: payload.len() as u64,
                state: State::Ready,
                attempts: 0,
                lease_until_ms: None,
                queue_seq: 0,
                final_at_ms: None,
                payload_purged: false,
                final_detail: String::new(),
                receipt_cursors: Vec::new(),
            };
            let draft = Draft {
                actor: record.sender.clone(),
                action: Some(Action::SendAccepted),
                message_id: id.clone(),
                counterpart: record.recipient.clone(),
                kind: Some(record.kind),
                child_ref: record.child_ref.clone(),
                legal_basis: Some(record.legal_basis.clone()),
                detail: String::new(),
            };
            let sealed_payload = payload_key.seal(&id, payload.clone());
            let message = NewMessage {
                record,
                sealed_payload,
            };
            store.accept(message, draft, u64::MAX, now).await?;
            Ok(payload.len() as u64)
        }
    })
    .await?;
    if std::env::var_os("SCHAKEL_BENCH_DEBUG").is_some() {
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
