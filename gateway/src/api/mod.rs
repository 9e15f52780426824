//! The tonic services. Each is thin: it takes the [`Caller`](crate::identity::Caller)
//! the identity layer attached, translates the request into the concern's own
//! types, calls that concern, and translates the answer or error back.

pub mod admin;
pub mod audit;
pub mod consent;
pub mod convert;
pub mod directory;
pub mod exchange;

use tonic::Status;

use crate::directory::DirectoryError;

/// Maps a directory error to the status a client can act on.
pub(crate) fn directory_status(e: DirectoryError) -> Status {
    match e {
        DirectoryError::Invalid(f) => Status::invalid_argument(f.to_string()),
        DirectoryError::Exists(oin) => {
            Status::already_exists(format!("participant {oin} already exists"))
        }
        DirectoryError::NotFound(oin) => {
            Status::not_found(format!("participant {oin} is not in the directory"))
        }
        DirectoryError::SeedFile { .. } | DirectoryError::Store(_) => internal(e),
    }
}

/// Logs an internal failure and answers a status that reveals nothing of it.
pub(crate) fn internal(e: impl std::fmt::Display) -> Status {
    tracing::error!(error = %e, "internal error");
    Status::internal("internal error; the gateway's log has the details")
}

/// A boxed server stream, as the generated traits ask for streaming RPCs.
pub(crate) type BoxStream<T> =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send + 'static>>;
