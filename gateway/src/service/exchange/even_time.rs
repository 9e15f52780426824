//! Answers that must not tell whether an id exists take the same time
//! either way. GetStatus and ListCase answer NOT_FOUND alike for an id that
//! does not exist and for another organisation's, but reading and
//! decoding the other organisation's records takes longer than finding
//! nothing; a caller timing the answers would learn which ids exist. Such
//! answers are held until [`NOT_FOUND_FLOOR`] after the call began, which
//! is longer than the work of either path for every case of ordinary size.

use std::time::Duration;

use tokio::time::Instant;

use crate::service::ServiceError;

/// The least time a NOT_FOUND answer about an id takes, from the start of
/// its call.
pub const NOT_FOUND_FLOOR: Duration = Duration::from_millis(25);

/// `result`, held until [`NOT_FOUND_FLOOR`] after `started` when it is
/// NOT_FOUND.
pub async fn evened<T>(
    started: Instant,
    result: Result<T, ServiceError>,
) -> Result<T, ServiceError> {
    if matches!(result, Err(ServiceError::NotFound(_))) {
        tokio::time::sleep_until(started + NOT_FOUND_FLOOR).await;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_not_found_waits_for_the_floor() {
        let started = Instant::now();
        let found: Result<u8, ServiceError> = evened(started, Ok(1)).await;
        assert_eq!(found.unwrap(), 1);
        assert!(started.elapsed() < NOT_FOUND_FLOOR);
        let missing: Result<u8, _> =
            evened(started, Err(ServiceError::NotFound("no".into()))).await;
        assert!(missing.is_err());
        assert!(started.elapsed() >= NOT_FOUND_FLOOR);
        let refused: Result<u8, _> = evened(
            Instant::now(),
            Err(ServiceError::PermissionDenied("no".into())),
        )
        .await;
        assert!(refused.is_err());
        assert!(started.elapsed() < 2 * NOT_FOUND_FLOOR);
    }
}
