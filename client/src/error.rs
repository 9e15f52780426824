//! Why a client call failed, in words a participant's system can act on:
//! the gateway's status, a connection or identity problem, or something
//! the gateway answered that does not verify.

use std::path::PathBuf;

use schakel_proto::keys::SignatureProblem;

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// An identity file could not be read.
    #[error("cannot read {path}")]
    Identity {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The gateway address is not a valid URL.
    #[error("invalid gateway address {0:?}: use https://HOST:PORT")]
    Address(String),
    /// The connection could not be set up (TLS handshake, refused, ...).
    #[error("cannot connect to the gateway: {0}")]
    Connect(#[from] tonic::transport::Error),
    /// The gateway answered with an error status.
    #[error("{}: {}", code_word(.0.code()), .0.message())]
    Status(tonic::Status),
    /// A receipt's signature does not verify under the gateway's key: it was
    /// altered, or it is not from this gateway. The receipt is not returned.
    #[error(
        "receipt for message {message_id} does not verify: {problem}; it is not from this gateway or was altered"
    )]
    BadReceipt {
        /// The message the receipt names.
        message_id: String,
        /// Why it does not verify.
        problem: SignatureProblem,
    },
    /// An access report's signature does not verify with the gateway's keys.
    #[error("the access report does not verify: {0}")]
    BadReport(SignatureProblem),
    /// The gateway's audit log is not an extension of a head seen before:
    /// it was rewritten or entries were dropped ([`crate::Client::witness`]).
    #[error(
        "the gateway's audit log is not the one seen before: {0}. Keep both tree heads: they are the evidence; tell your privacy officer and the gateway's operator"
    )]
    NotAppendOnly(schakel_proto::tree_head::ExtendsProblem),
}

/// A gRPC status code in the words the command line and its JSON use:
/// `invalid_argument`, `permission_denied`, `not_found`.
pub fn code_word(code: tonic::Code) -> String {
    let mut word = String::new();
    for (i, c) in format!("{code:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            word.push('_');
        }
        word.push(c.to_ascii_lowercase());
    }
    word
}

impl From<tonic::Status> for ClientError {
    fn from(status: tonic::Status) -> Self {
        ClientError::Status(status)
    }
}
