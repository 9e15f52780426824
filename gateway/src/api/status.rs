//! The one conversion from the gateway's errors to gRPC statuses. Every
//! refusal keeps its text, which names the field and the rule, the limit, or
//! the condition; internal failures are logged and answered without detail.

use tonic::Status;

use crate::policy::Violation;
use crate::service::{Internal, ServiceError};
use crate::store::StoreError;
use crate::transport::AccessError;

/// The status for a use case's error.
pub fn of(e: ServiceError) -> Status {
    match e {
        ServiceError::Invalid(v) => violation(v),
        ServiceError::Route(r) => Status::permission_denied(r.to_string()),
        ServiceError::PermissionDenied(m) => Status::permission_denied(m),
        ServiceError::NotFound(m) => Status::not_found(m),
        ServiceError::AlreadyExists(m) => Status::already_exists(m),
        ServiceError::Exhausted(m) => Status::resource_exhausted(m),
        ServiceError::FailedPrecondition(m) => Status::failed_precondition(m),
        ServiceError::Internal(Internal::Store(StoreError::Unavailable(m))) => {
            Status::unavailable(m)
        }
        ServiceError::Internal(Internal::Store(StoreError::Io(e))) => {
            let message = crate::store::fault_message(&e.to_string());
            tracing::error!("{message}");
            Status::unavailable(message)
        }
        ServiceError::Internal(e) => internal(e),
    }
}

/// The status for a broken rule: INVALID_ARGUMENT naming the field, or
/// RESOURCE_EXHAUSTED naming the limit.
pub fn violation(v: Violation) -> Status {
    match v {
        Violation::Field { .. } => Status::invalid_argument(v.to_string()),
        Violation::Limit(m) => Status::resource_exhausted(m),
    }
}

/// The status for a call refused before it reached a service.
pub fn access(e: AccessError) -> Status {
    match e {
        AccessError::Unauthenticated(m) => Status::unauthenticated(m),
        AccessError::PermissionDenied(m) | AccessError::NotPinned(m) => {
            Status::permission_denied(m)
        }
        AccessError::Exhausted(m) => Status::resource_exhausted(m),
        AccessError::Unavailable(m) => Status::unavailable(m),
    }
}

/// Logs an internal failure and answers a status that reveals nothing of it.
pub fn internal(e: impl std::fmt::Display) -> Status {
    tracing::error!(error = %e, "internal error");
    Status::internal("internal error; the gateway's log has the details")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::invalid;
    use crate::policy::routing::RouteRefused;
    use crate::store::StoreError;
    use tonic::Code;

    #[test]
    fn each_error_has_its_code_and_keeps_its_text() {
        let cases = [
            (
                ServiceError::Invalid(invalid("f", "rule")),
                Code::InvalidArgument,
                "f: rule",
            ),
            (
                ServiceError::Invalid(Violation::Limit("the limit is 2".into())),
                Code::ResourceExhausted,
                "the limit is 2",
            ),
            (
                ServiceError::Route(RouteRefused("no".into())),
                Code::PermissionDenied,
                "routing: no",
            ),
            (
                ServiceError::PermissionDenied("p".into()),
                Code::PermissionDenied,
                "p",
            ),
            (ServiceError::NotFound("n".into()), Code::NotFound, "n"),
            (
                ServiceError::AlreadyExists("a".into()),
                Code::AlreadyExists,
                "a",
            ),
            (
                ServiceError::Exhausted("e".into()),
                Code::ResourceExhausted,
                "e",
            ),
            (
                ServiceError::FailedPrecondition("c".into()),
                Code::FailedPrecondition,
                "c",
            ),
        ];
        for (e, code, text) in cases {
            let s = of(e);
            assert_eq!((s.code(), s.message()), (code, text));
        }
        let secret = StoreError::Engine("disk /secret/path failed".into());
        let s = of(ServiceError::from(secret));
        assert_eq!(s.code(), Code::Internal);
        assert!(!s.message().contains("secret"), "{}", s.message());
        let s = access(AccessError::Unauthenticated("no cert".into()));
        assert_eq!((s.code(), s.message()), (Code::Unauthenticated, "no cert"));
        assert_eq!(
            access(AccessError::Exhausted("x".into())).code(),
            Code::ResourceExhausted
        );
        assert_eq!(
            access(AccessError::Unavailable("x".into())).code(),
            Code::Unavailable
        );
        assert_eq!(
            access(AccessError::PermissionDenied("x".into())).code(),
            Code::PermissionDenied
        );
    }
}
