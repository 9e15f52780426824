//! What tonic answers before a handler runs, restated in the gateway's
//! terms. tonic answers a request larger than the decoding limit with
//! OUT_OF_RANGE and bytes that are not a valid protobuf message with
//! INTERNAL; the gateway promises RESOURCE_EXHAUSTED for anything over a
//! limit and INVALID_ARGUMENT for bad input, each with a message that says
//! what to do. [`restate`] rewrites those answers, and nothing else.

use tonic::{Code, Status};

/// The status to answer instead of `status`, if it is one tonic gave for
/// a request it could not decode.
pub fn restated(status: &Status) -> Option<Status> {
    let m = status.message();
    match status.code() {
        Code::OutOfRange if m.contains("decoded message length too large") => {
            let detail = m.split_once(": ").map_or(m, |(_, d)| d);
            Some(Status::resource_exhausted(format!(
                "request too large ({detail}); the limit is limits.max_message_bytes plus room for the envelope: send a smaller message, or split the attachments"
            )))
        }
        Code::Internal
            if m.starts_with("failed to decode Protobuf message")
                || m.starts_with("protocol error") =>
        {
            Some(Status::invalid_argument(format!(
                "the request is not a valid message of this call ({m}); encode it with the schakel.v1 .proto files"
            )))
        }
        _ => None,
    }
}

/// `response`, with the status tonic gave restated if it is one of
/// [`restated`]'s; the gateway's layer maps every answer through it.
pub fn restate<B>(mut response: http::Response<B>) -> http::Response<B> {
    let better = Status::from_header_map(response.headers())
        .as_ref()
        .and_then(restated);
    if let Some(status) = better {
        let headers = response.headers_mut();
        headers.remove("grpc-status");
        headers.remove("grpc-message");
        headers.remove("grpc-status-details-bin");
        if status.add_header(headers).is_err() {
            tracing::warn!("could not restate a decoding error");
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversize_and_garbage_are_restated_and_nothing_else() {
        let big = Status::out_of_range(
            "Error, decoded message length too large: found 17825792 bytes, the limit is: 16842752 bytes",
        );
        let s = restated(&big).unwrap();
        assert_eq!(s.code(), Code::ResourceExhausted);
        assert!(s.message().contains("found 17825792 bytes"), "{s:?}");
        assert!(s.message().contains("limits.max_message_bytes"), "{s:?}");
        let bad = Status::internal("failed to decode Protobuf message: invalid wire type value: 7");
        let s = restated(&bad).unwrap();
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(s.message().contains("invalid wire type"), "{s:?}");
        for other in [
            Status::internal("internal error; the gateway's log has the details"),
            Status::out_of_range("respond_by: out of range"),
            Status::invalid_argument("x"),
        ] {
            assert!(restated(&other).is_none(), "{other:?}");
        }
    }
}
