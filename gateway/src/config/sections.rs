//! The sections of the configuration file, one struct each. Every field has
//! a default in the embedded `schakel.toml`, which also comments it.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::model::OrgKind;

/// The shortest audit retention this gateway accepts: 1826 days, five
/// years, the archive term of a withdrawn or lapsed signal. A policy floor
/// (the law sets the signal's term; the gateway applies it to every entry).
pub const AUDIT_RETENTION_FLOOR_DAYS: u64 = 1826;

/// The longest a signal may run before it lapses (two years): how much
/// longer than the retention an entry of the first format is kept, since
/// it does not say when its signal lapsed.
pub const LONGEST_SIGNAL_DAYS: u64 = 730;

/// Consent over time: the ages and terms of the law and of policy, and
/// when registrants are told.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentConfig {
    /// The age up to which consents are carried (18 to 23): a young
    /// person's own consent lapses on this birthday.
    pub max_age: u8,
    /// The longest a consent may last after it was given, in days.
    pub max_term_days: u32,
    /// How many days before a consent lapses, or is to be reconfirmed, its
    /// registrant gets a notice.
    pub notice_days: u32,
    /// Whether a consent of parents and child lapses at the young person's
    /// 16th birthday (true), or is only to be reconfirmed then (false).
    pub lapse_at_16: bool,
}

/// Size and count limits; each exceeded limit is RESOURCE_EXHAUSTED.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest Send request in bytes.
    pub max_message_bytes: u64,
    /// Most attachments per message.
    pub max_attachments: u32,
    /// Most undelivered messages in one inbox.
    pub max_inbox_messages: u64,
    /// Most payload bytes held undelivered (waiting or leased) in one
    /// inbox.
    pub max_undelivered_bytes_per_inbox: u64,
    /// Most payload bytes one sender may have held undelivered, over all
    /// its recipients.
    pub max_undelivered_bytes_per_sender: u64,
    /// Average calls a second per participant; 0 turns the limit off.
    pub requests_per_second: u32,
    /// Calls a participant may make at once.
    pub request_burst: u32,
    /// Average calls a second per client certificate, within its
    /// organisation's; 0 turns this limit off.
    pub requests_per_second_per_certificate: u32,
    /// Calls one client certificate may make at once.
    pub request_burst_per_certificate: u32,
    /// Most messages in one SendBatch or AckBatch call.
    pub max_batch_messages: u32,
    /// Bytes of request bodies one participant may have arriving at once.
    pub max_body_bytes_in_flight_per_participant: u64,
    /// Bytes of request bodies that may be arriving at once in all.
    pub max_body_bytes_in_flight: u64,
}

/// Room for what surrounds a payload in a gRPC message: the envelope of a
/// delivery, a Send request's fields around its payload.
pub const ENVELOPE_ROOM: u64 = 64 * 1024;

impl LimitsConfig {
    /// The largest gRPC message the gateway reads or writes: the largest
    /// allowed message with room for its envelope. A Pull answer stays
    /// within it.
    pub fn frame_limit_bytes(&self) -> u64 {
        self.max_message_bytes + ENVELOPE_ROOM
    }
}

/// Expiry, leases and retention.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeConfig {
    /// Expiry when the sender sets none, in days.
    pub default_expiry_days: u32,
    /// Latest expiry a sender may set, in days.
    pub max_expiry_days: u32,
    /// Lease when the recipient asks for none, in seconds.
    pub default_lease_secs: u64,
    /// Longest lease, in seconds.
    pub max_lease_secs: u64,
    /// How long a finished message keeps its payload, in seconds.
    pub retention_secs: u64,
    /// How often the sweeper runs, in milliseconds.
    pub sweep_interval_ms: u64,
    /// Which receipts carry a signature of their own besides their proof.
    pub receipt_signatures: ReceiptSignatures,
}

/// Which receipts carry the per-receipt Ed25519 signature of earlier
/// releases besides their inclusion proof: a receipt verifies by its proof
/// and its tree head alone, and the signature costs the send path a
/// signature per receipt, so it is made only where a client that cannot
/// verify a proof yet needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptSignatures {
    /// Only for a call that asks with the `schakel-receipt-signature`
    /// header.
    OnRequest,
    /// For every receipt, as before receipts were proved: for a gateway
    /// whose clients cannot all send the header yet.
    Always,
}

/// One routing rule: the kinds that may send, and the kinds they may send to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Organisation kinds that may send.
    pub from: Vec<OrgKind>,
    /// Organisation kinds that may receive.
    pub to: Vec<OrgKind>,
}

/// Audit checkpoints and retention.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// New entries after which a checkpoint is signed.
    pub checkpoint_every: u64,
    /// Seconds after which a checkpoint is signed anyway.
    pub checkpoint_interval_secs: u64,
    /// Days an entry keeps its child reference (from the entry, or from a
    /// signal's lapse); at least [`AUDIT_RETENTION_FLOOR_DAYS`].
    pub retention_days: u64,
    /// Days after which whole entries are removed (0: never).
    pub keep_entries_days: u64,
    /// Seconds over which refusals are counted before their entry is
    /// written.
    pub refusal_interval_secs: u64,
}

/// The routing policy per message kind (the reply is fixed in code).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingConfig {
    /// Signals of concern.
    pub signalering: RouteConfig,
    /// Transfer dossiers.
    pub overdrachtsdossier: RouteConfig,
    /// Requests for consultation.
    pub consultatieverzoek: RouteConfig,
}

/// The gRPC endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Where to listen; tests bind their own listener and ignore this.
    pub listen: SocketAddr,
    /// A client that has not finished its handshake by then is dropped, so a
    /// slow or hostile peer cannot hold a connection slot.
    pub handshake_timeout_secs: u64,
    /// How long open calls get to finish on shutdown.
    pub shutdown_grace_secs: u64,
    /// Open connections per client certificate.
    pub max_connections_per_certificate: usize,
    /// Open connections in all.
    pub max_connections: usize,
    /// TLS handshakes pending at once in all; more connections are closed
    /// before a byte is read from them.
    pub max_pending_handshakes: usize,
    /// TLS handshakes pending at once from one source address.
    pub max_pending_handshakes_per_address: usize,
    /// HTTP/2 streams open at once per connection.
    pub max_concurrent_streams: u32,
    /// Seconds without a byte from the peer before a connection is closed.
    pub idle_timeout_secs: u64,
    /// Seconds between the gateway's HTTP/2 keep-alive pings.
    pub keepalive_interval_secs: u64,
    /// Seconds a peer gets to answer a ping.
    pub keepalive_timeout_secs: u64,
    /// Seconds a unary call may take, its request body included.
    pub request_timeout_secs: u64,
}

impl ServerConfig {
    /// The rules between the connection settings; the message names the
    /// setting and the rule.
    pub fn check(&self) -> Result<(), String> {
        if self.handshake_timeout_secs == 0 {
            return Err("server.handshake_timeout_secs must be at least 1".into());
        }
        if self.max_connections == 0 || self.max_connections_per_certificate == 0 {
            return Err(
                "server.max_connections and server.max_connections_per_certificate must be at least 1"
                    .into(),
            );
        }
        if self.max_pending_handshakes == 0 || self.max_pending_handshakes_per_address == 0 {
            return Err("server.max_pending_handshakes and server.max_pending_handshakes_per_address must be at least 1".into());
        }
        if self.max_concurrent_streams == 0 {
            return Err("server.max_concurrent_streams must be at least 1".into());
        }
        if self.keepalive_interval_secs == 0 || self.keepalive_timeout_secs == 0 {
            return Err("server.keepalive_interval_secs and server.keepalive_timeout_secs must be at least 1".into());
        }
        if self.idle_timeout_secs <= self.keepalive_interval_secs {
            return Err(format!(
                "server.idle_timeout_secs must be longer than server.keepalive_interval_secs ({}), or live clients would be cut off between pings",
                self.keepalive_interval_secs
            ));
        }
        let pull = crate::policy::requests::MAX_PULL_WAIT.as_secs();
        if self.request_timeout_secs <= pull {
            return Err(format!(
                "server.request_timeout_secs must be longer than a Pull's longest wait ({pull} s)"
            ));
        }
        Ok(())
    }
}

/// Certificates, keys and the client CA.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The gateway's certificate chain (PEM).
    pub cert: PathBuf,
    /// The gateway's private key (PEM).
    pub key: PathBuf,
    /// The CA bundle client certificates must chain to (PEM).
    pub client_ca: PathBuf,
    /// Revocation lists checked for every client certificate.
    pub crls: Vec<PathBuf>,
    /// Seconds between looks at the CRL files, and the gateway's
    /// certificate and key, for changes.
    pub reload_secs: u64,
}

/// The participant directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryConfig {
    /// The TOML file that seeds the directory at start.
    pub file: PathBuf,
}

/// The store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Where the store lives.
    pub engine: StorageEngine,
    /// Folder for the gateway's keys, and for the store when it is sled.
    pub data_dir: PathBuf,
    /// sled's page cache in MiB; memory use follows it.
    pub cache_capacity_mib: u64,
    /// The PostgreSQL database, when the engine is PostgreSQL: a libpq
    /// connection string or `postgres://` URL, password included (keep it
    /// in `SCHAKEL_STORAGE__POSTGRES_URL` rather than a file).
    pub postgres_url: String,
    /// The PEM file of the CA that signed the database server's
    /// certificate; empty: unset.
    pub postgres_ca_file: PathBuf,
    /// A client certificate (PEM), for a database server that asks for
    /// one; empty: unset.
    pub postgres_client_cert: PathBuf,
    /// Its private key (PEM); empty: unset.
    pub postgres_client_key: PathBuf,
    /// Free space kept on the store's file system (sled) or below
    /// `postgres_max_bytes` (PostgreSQL): below it, payloads over 64 KiB
    /// are refused while small messages, pulls and acknowledgements go on.
    pub min_free_bytes: u64,
    /// The most the PostgreSQL database may take, in bytes; 0: no bound of
    /// the gateway's (the database server's disk is its administrator's).
    pub postgres_max_bytes: u64,
    /// Start with a data folder that group or others can reach, with a
    /// warning, instead of refusing to.
    pub allow_shared_data_folder: bool,
}

impl StorageConfig {
    /// What the types cannot check.
    pub fn check(&self) -> Result<(), &'static str> {
        if self.cache_capacity_mib == 0 {
            return Err("storage.cache_capacity_mib must be at least 1");
        }
        if self.engine == StorageEngine::Postgres && self.postgres_url.trim().is_empty() {
            return Err(
                "storage.postgres_url must be set when storage.engine is \"postgres\" (a postgres:// URL or a libpq connection string; SCHAKEL_STORAGE__POSTGRES_URL keeps its password out of the file)",
            );
        }
        if self.postgres_client_cert.as_os_str().is_empty()
            != self.postgres_client_key.as_os_str().is_empty()
        {
            return Err(
                "storage.postgres_client_cert and storage.postgres_client_key go together: set both or neither",
            );
        }
        Ok(())
    }
}

/// Which engine holds the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageEngine {
    /// Embedded, in the data folder: one gateway, nothing else to run.
    Sled,
    /// A PostgreSQL database several gateways share.
    Postgres,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines for people.
    Human,
    /// One JSON object per line for log collectors.
    Json,
}

/// The metrics endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Where the Prometheus endpoint listens (plain HTTP, `GET /metrics`);
    /// empty turns it off.
    pub listen: String,
}

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Human or JSON.
    pub format: LogFormat,
    /// A tracing filter directive.
    pub filter: String,
}
