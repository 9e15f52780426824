//! Valid Send requests of every kind on a fixed day, for unit tests to break
//! one field at a time (the shared examples of `schakel_proto::examples`).

use schakel_proto::examples;
use schakel_proto::v1 as pb;
use time::Date;
use time::macros::date;

pub use examples::{attachment, statute};

/// The day the requests are valid on.
pub const TODAY: Date = date!(2026 - 11 - 24);
/// Midnight (UTC) of [`TODAY`], in Unix ms.
pub const NOW_MS: i64 = 1_795_478_400_000;
/// The JGT the requests go to.
pub const JGT: &str = "00000099300000000001";
/// The VO school a dossier goes to.
pub const VO: &str = "00000099100000000002";
/// An id in the right shape.
pub const ID: &str = "0190b2a4-7c3e-7a1b-9c2d-3e4f5a6b7c8d";

/// A signal to the JGT under the Verwijsindex basis.
pub fn signalering() -> pb::SendRequest {
    examples::signalering(TODAY, "ref-1", JGT)
}

/// A PO-VO dossier with one attachment.
pub fn dossier() -> pb::SendRequest {
    examples::dossier(TODAY, "ref-1", VO)
}

/// A consultation request to the JGT under consent [`ID`].
pub fn consult() -> pb::SendRequest {
    examples::consult(TODAY, "ref-1", JGT, ID)
}

/// A reply to request [`ID`] that answers it (naming no basis).
pub fn reply() -> pb::SendRequest {
    examples::answer("ref-1", JGT, ID, None)
}

/// A request with its payload decoded, so that a case can change one field
/// of either; the send tests encode the payload again.
pub struct Draft {
    /// The request, its payload taken out.
    pub request: pb::SendRequest,
    /// The payload, decoded; none sends the request's own bytes.
    pub payload: Option<pb::Payload>,
}

impl From<pb::SendRequest> for Draft {
    fn from(mut request: pb::SendRequest) -> Self {
        let bytes = std::mem::take(&mut request.payload);
        Self {
            request,
            payload: Some(schakel_proto::payload::decode(&bytes).unwrap()),
        }
    }
}

impl std::ops::Deref for Draft {
    type Target = pb::SendRequest;
    fn deref(&self) -> &pb::SendRequest {
        &self.request
    }
}

impl std::ops::DerefMut for Draft {
    fn deref_mut(&mut self) -> &mut pb::SendRequest {
        &mut self.request
    }
}
