//! The calls tests repeat, as one call each.

use std::time::Duration;

use futures::{Stream, StreamExt};
use schakel_client::proto as pb;
use schakel_client::{Client, ClientError, KeyRing};

/// How long a test waits for something the gateway should do at once.
pub const PROMPTLY: Duration = Duration::from_secs(10);

/// The gRPC code of a failed client call, for assertions.
pub fn code_of<T: std::fmt::Debug>(result: Result<T, ClientError>) -> tonic::Code {
    status_of(result).code()
}

/// The status of a failed client call, for assertions on code and message.
pub fn status_of<T: std::fmt::Debug>(result: Result<T, ClientError>) -> tonic::Status {
    match result {
        Ok(v) => panic!("expected an error status, got {v:?}"),
        Err(ClientError::Status(s)) => s,
        Err(e) => panic!("expected an error status, got {e}"),
    }
}

/// The message of a call refused with `code`; panics on another outcome.
pub fn refusal<T: std::fmt::Debug>(result: Result<T, ClientError>, code: tonic::Code) -> String {
    let status = status_of(result);
    assert_eq!(status.code(), code, "{}", status.message());
    status.message().to_owned()
}

/// The next item of a stream, which must come within [`PROMPTLY`].
pub async fn next_event<S, T, E>(stream: &mut S) -> T
where
    S: Stream<Item = Result<T, E>> + Unpin,
    E: std::fmt::Debug,
{
    tokio::time::timeout(PROMPTLY, stream.next())
        .await
        .expect("an event within ten seconds")
        .expect("the stream stays open")
        .expect("a good event")
}

/// The next `n` receipts of a Receipts stream, each within [`PROMPTLY`].
pub async fn next_receipts<S>(stream: &mut S, n: usize) -> Vec<pb::Receipt>
where
    S: Stream<Item = Result<pb::ReceiptEvent, ClientError>> + Unpin,
{
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let event = next_event(stream).await;
        out.push(event.receipt.expect("an event carries a receipt"));
    }
    out
}

/// Pulls from `client`'s inbox until `n` messages are leased, waiting up to
/// [`PROMPTLY`] in all (messages may come back only once a sweep has
/// returned their expired leases).
pub async fn pull_until(client: &Client, n: usize) -> Vec<pb::Delivery> {
    let deadline = std::time::Instant::now() + PROMPTLY;
    let mut got = Vec::new();
    while got.len() < n {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(
            !left.is_zero(),
            "only {} of {n} messages arrived: {got:?}",
            got.len()
        );
        let wait = left.min(Duration::from_secs(1));
        got.extend(
            client
                .pull((n - got.len()) as u32, wait, Duration::ZERO)
                .await
                .expect("pull"),
        );
    }
    got
}

/// A message sent, pulled and acknowledged.
#[derive(Debug)]
pub struct Delivered {
    /// The sender's answer.
    pub sent: pb::SendResponse,
    /// What the recipient received.
    pub delivery: pb::Delivery,
    /// The recipient's acknowledgement.
    pub ack: pb::AckResponse,
}

/// Sends `request` from `sender`, pulls it as `recipient` (whose inbox must
/// hold nothing before it) and acknowledges it.
pub async fn deliver(sender: &Client, recipient: &Client, request: pb::SendRequest) -> Delivered {
    let sent = sender.send(request).await.expect("send");
    let mut got = pull_until(recipient, 1).await;
    let delivery = got.remove(0);
    assert_eq!(id_of(&delivery), sent.message_id, "the message just sent");
    let ack = recipient.ack(&sent.message_id).await.expect("ack");
    Delivered {
        sent,
        delivery,
        ack,
    }
}

/// A case as the case tests start it: the SWV registers the parents'
/// consent and consults the JGT (`jgt_oin`) under it with `reference`, the
/// JGT takes the request; the consent's id and the case's.
pub async fn consulted_case(
    swv: &Client,
    jgt: &Client,
    jgt_oin: &str,
    reference: &str,
) -> (String, String) {
    let consent = crate::fixtures::granted(swv).await;
    let request = crate::fixtures::consult(reference, jgt_oin, &consent);
    let case = deliver(swv, jgt, request).await.sent.case_id;
    (consent, case)
}

/// The message id of a delivery.
pub fn id_of(d: &pb::Delivery) -> String {
    envelope(d).message_id.clone()
}

/// The envelope of a delivery.
pub fn envelope(d: &pb::Delivery) -> &pb::Envelope {
    d.envelope.as_ref().expect("a delivery has an envelope")
}

/// The payload of a delivery, decoded; its digest must be the SHA-256 of
/// the bytes as delivered.
pub fn payload(d: &pb::Delivery) -> pb::Payload {
    let e = envelope(d);
    assert_eq!(
        e.payload_digest,
        schakel_proto::payload::digest(&e.payload),
        "the digest is of the bytes delivered"
    );
    schakel_proto::payload::decode(&e.payload).expect("a delivery's payload decodes")
}

/// The statuses of receipts, in order.
pub fn statuses(receipts: &[pb::Receipt]) -> Vec<pb::ReceiptStatus> {
    receipts
        .iter()
        .map(|r| pb::ReceiptStatus::try_from(r.status).expect("a known status"))
        .collect()
}

/// The audit entries an operator's query returns.
pub async fn audit_query(operator: &Client, request: pb::AuditQueryRequest) -> Vec<pb::AuditEntry> {
    let stream = operator.audit_query(request).await.expect("query");
    stream.map(|e| e.expect("an entry")).collect().await
}

/// The audit entries of these actions.
pub async fn audit_of(operator: &Client, actions: &[pb::AuditAction]) -> Vec<pb::AuditEntry> {
    audit_query(
        operator,
        pb::AuditQueryRequest {
            actions: actions.iter().map(|a| *a as i32).collect(),
            ..Default::default()
        },
    )
    .await
}

/// The audit log exported, one JSON line per record.
pub async fn export_lines(operator: &Client) -> Vec<String> {
    let stream = operator.audit_export(0, 0).await.expect("export");
    stream
        .map(|r| schakel_client::audit_file::to_json(&r.expect("a record")).to_string())
        .collect()
        .await
}

/// The offline verifier's verdict on exported lines.
pub fn verify_lines(lines: &[String], keys: &KeyRing) -> schakel_proto::audit::Verdict {
    schakel_client::audit_file::verify(std::io::Cursor::new(lines.join("\n")), keys)
        .expect("the lines parse")
}

/// Every public key the gateway lists (`Directory.GatewayKey`).
pub async fn gateway_keys(client: &Client) -> KeyRing {
    KeyRing::from_response(&client.gateway_key().await.expect("the gateway's keys"))
}

/// Calls `probe` every 50 ms until it returns something, for at most
/// [`PROMPTLY`]: for what the gateway does on its own time (a sweep, the
/// audit upkeep).
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + PROMPTLY;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not happen within ten seconds"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The audit entries about one message.
pub async fn audit_about(operator: &Client, message_id: &str) -> Vec<pb::AuditEntry> {
    audit_query(
        operator,
        pb::AuditQueryRequest {
            message_id: message_id.to_owned(),
            ..Default::default()
        },
    )
    .await
}

/// The action of an audit entry.
pub fn action(e: &pb::AuditEntry) -> pb::AuditAction {
    pb::AuditAction::try_from(e.action).expect("a known action")
}

/// The gateway's verdict on its whole audit log, which must be intact.
pub async fn log_intact(operator: &Client) -> pb::AuditVerifyResponse {
    let verdict = operator.audit_verify(0, 0).await.expect("verify");
    assert!(verdict.ok, "{}", verdict.problem);
    verdict
}

/// Sends `n` signals from `sender` to `to`, with references `prefix-0`,
/// `prefix-1`, …; their answers.
pub async fn send_signals(
    sender: &Client,
    to: &str,
    prefix: &str,
    n: usize,
) -> Vec<pb::SendResponse> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let signal = crate::fixtures::signalering(&format!("{prefix}-{i}"), to);
        out.push(sender.send(signal).await.expect("accepted"));
    }
    out
}

/// Bytes sent as they are, to call an RPC with what no generated client
/// would send.
#[derive(Clone, Default)]
pub struct Raw;

impl tonic::codec::Encoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use prost::bytes::BufMut as _;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        use prost::bytes::Buf as _;
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

impl tonic::codec::Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

/// Calls `path` with `body` as the request's bytes; the call must be
/// refused, and its status is answered.
pub async fn raw_call(client: &Client, path: &str, body: Vec<u8>) -> tonic::Status {
    raw_result(client, path, body, false)
        .await
        .expect_err("refused")
}

/// Calls `path` (a server stream if `stream`) with `body` as the request's
/// bytes; its status if it is refused, at once or as the stream's first
/// item.
pub async fn raw_result(
    client: &Client,
    path: &str,
    body: Vec<u8>,
    stream: bool,
) -> Result<(), tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(client.channel())
        .max_encoding_message_size(64 << 20)
        .max_decoding_message_size(64 << 20);
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let path = tonic::codegen::http::uri::PathAndQuery::try_from(path).expect("a path");
    if stream {
        let mut items = grpc
            .server_streaming(tonic::Request::new(body), path, Raw)
            .await?
            .into_inner();
        // A refusal after the start arrives as the first item; a stream
        // that stays open without one was let in.
        return match tokio::time::timeout(Duration::from_millis(300), items.message()).await {
            Ok(Err(status)) => Err(status),
            _ => Ok(()),
        };
    }
    grpc.unary(tonic::Request::new(body), path, Raw)
        .await
        .map(|_| ())
}

/// The signed access report `client` obtains about the child of `bsn`
/// (for `reason`), its document decoded.
pub async fn access_report(client: &Client, bsn: &str, reason: &str) -> serde_json::Value {
    let signed = client
        .audit_report(bsn, reason)
        .await
        .expect("the access report");
    serde_json::from_slice(&signed.document).expect("a JSON document")
}

/// Every file below `dir`, recursively.
pub fn files_below(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("a readable folder") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            out.extend(files_below(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Pins `oin`'s directory entry to the certificates with these SHA-256
/// fingerprints (hex), as the operator; the rest of the entry stays.
pub async fn pin(operator: &Client, oin: &str, pins: Vec<String>) {
    let p = operator
        .lookup(pb::lookup_request::Query::Oin(oin.to_owned()))
        .await
        .expect("lookup")
        .remove(0);
    operator
        .update_participant(pb::UpdateParticipantRequest {
            oin: p.oin,
            name: p.name,
            kind: p.kind,
            codes: p.codes,
            pinned_cert_sha256: pins,
            sector: p.sector,
        })
        .await
        .expect("pinned");
}

/// Pulls and acknowledges `client`'s inbox until it is empty; the ids of
/// what it held.
pub async fn drain(client: &Client) -> std::collections::HashSet<String> {
    let mut ids = std::collections::HashSet::new();
    loop {
        let got = client
            .pull(64, Duration::ZERO, Duration::from_secs(300))
            .await
            .expect("pull");
        if got.is_empty() {
            return ids;
        }
        for d in got {
            let id = d.envelope.expect("an envelope").message_id;
            client.ack(&id).await.expect("ack");
            ids.insert(id);
        }
    }
}

/// A request body that sends its chunks and then stalls for ever: an
/// attacker's slow upload.
struct Stalling(std::collections::VecDeque<bytes::Bytes>);

impl http_body::Body for Stalling {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        match self.0.pop_front() {
            Some(chunk) => std::task::Poll::Ready(Some(Ok(http_body::Frame::data(chunk)))),
            None => std::task::Poll::Pending,
        }
    }
}

/// Starts a Send whose gRPC message announces `announced` bytes, sends
/// `sent` of them in 64 KiB chunks, and never sends the rest. The task ends
/// with the call's status if the gateway ends the call; it runs until
/// aborted while the gateway waits for the rest.
pub fn slow_send(
    client: &Client,
    announced: u32,
    sent: usize,
) -> tokio::task::JoinHandle<tonic::Status> {
    use tower::Service;
    let mut chunks = std::collections::VecDeque::new();
    let mut head = vec![0u8];
    head.extend_from_slice(&announced.to_be_bytes());
    chunks.push_back(bytes::Bytes::from(head));
    let mut left = sent;
    while left > 0 {
        let n = left.min(64 << 10);
        chunks.push_back(bytes::Bytes::from(vec![0x0au8; n]));
        left -= n;
    }
    let request = http::Request::post("/schakel.v1.Exchange/Send")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(tonic::body::Body::new(Stalling(chunks)))
        .expect("a request");
    let mut channel = client.channel();
    tokio::spawn(async move {
        futures::future::poll_fn(|cx| channel.poll_ready(cx))
            .await
            .expect("the channel is ready");
        let response = match channel.call(request).await {
            Ok(response) => response,
            Err(e) => return tonic::Status::unavailable(e.to_string()),
        };
        if let Some(status) = tonic::Status::from_header_map(response.headers()) {
            return status;
        }
        let mut body = response.into_body();
        loop {
            let frame = futures::future::poll_fn(|cx| {
                http_body::Body::poll_frame(std::pin::Pin::new(&mut body), cx)
            })
            .await;
            match frame {
                Some(Ok(frame)) => {
                    if let Some(status) = frame
                        .trailers_ref()
                        .and_then(tonic::Status::from_header_map)
                    {
                        return status;
                    }
                }
                _ => return tonic::Status::unknown("the call ended without a status"),
            }
        }
    })
}
