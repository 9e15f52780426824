//! The rules of the small requests: how long a lease may be, how many
//! messages one pull may take and how long it may wait, and what a
//! rejection may say.

use std::time::Duration;

use super::{Violation, invalid};
use crate::model::RejectReason;

/// Longest a Pull may wait for an empty inbox.
pub const MAX_PULL_WAIT: Duration = Duration::from_secs(60);
/// Most messages one Pull may lease, or one stream may hold in flight.
pub const MAX_PULL: u32 = 256;
/// Messages a Pull leases, or a stream holds in flight, when it asks for 0.
pub const DEFAULT_PULL: u32 = 16;

/// The lease length in ms for a requested one (zero: the default).
pub fn lease_ms(requested: Duration, default_secs: u64, max_secs: u64) -> Result<i64, Violation> {
    if requested.is_zero() {
        return Ok(default_secs as i64 * 1000);
    }
    if requested > Duration::from_secs(max_secs) || requested < Duration::from_secs(1) {
        return Err(invalid("lease", format!("must be 1 to {max_secs} seconds")));
    }
    Ok(requested.as_millis() as i64)
}

/// How many messages to lease for a request of `n` (0: the default).
pub fn max_messages(n: u32) -> Result<usize, Violation> {
    match n {
        0 => Ok(DEFAULT_PULL as usize),
        n if n > MAX_PULL => Err(invalid(
            "max_messages",
            format!("must be at most {MAX_PULL}"),
        )),
        n => Ok(n as usize),
    }
}

/// How long a Pull may wait.
pub fn pull_wait(wait: Duration) -> Result<Duration, Violation> {
    if wait > MAX_PULL_WAIT {
        return Err(invalid("wait", "must be at most 60 seconds"));
    }
    Ok(wait)
}

/// Items in a page of a list answer when the caller asks for 0.
pub const DEFAULT_PAGE: u32 = 100;
/// The most items in a page of a list answer.
pub const MAX_PAGE: u32 = 1000;

/// The page size for a requested one (zero: the default).
pub fn page_size(requested: u32) -> Result<usize, Violation> {
    match requested {
        0 => Ok(DEFAULT_PAGE as usize),
        n if n > MAX_PAGE => Err(invalid("page_size", format!("must be at most {MAX_PAGE}"))),
        n => Ok(n as usize),
    }
}

/// The page of `items` after the one whose key is `after` (from the start
/// if `None`, or if it is no longer there), at most `size` long, and the
/// key to ask the next page with if there is more.
pub fn page<T, K: PartialEq>(
    items: Vec<T>,
    key: impl Fn(&T) -> K,
    after: Option<K>,
    size: usize,
) -> (Vec<T>, Option<K>) {
    let start = after
        .and_then(|a| items.iter().position(|i| key(i) == a))
        .map_or(0, |p| p + 1);
    let mut rest: Vec<T> = items.into_iter().skip(start).collect();
    let more = rest.len() > size;
    rest.truncate(size);
    let next = if more { rest.last().map(&key) } else { None };
    (rest, next)
}

/// A rejection: a reason code, and a note of one line.
pub fn rejection(reason: Option<RejectReason>, detail: &str) -> Result<RejectReason, Violation> {
    let reason = reason.ok_or_else(|| {
        invalid(
            "reason",
            "is required: technical, not_assessed, wrong_recipient, duplicate or invalid_content",
        )
    })?;
    if detail.chars().count() > 256 || detail.chars().any(char::is_control) {
        return Err(invalid(
            "detail",
            "must be one line of at most 256 characters",
        ));
    }
    Ok(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_each_other_and_end() {
        assert_eq!(page_size(0), Ok(100));
        assert!(page_size(1001).is_err());
        let (first, next) = page((1..=5).collect(), |i: &i32| *i, None, 2);
        assert_eq!((first, next), (vec![1, 2], Some(2)));
        let (second, next) = page((1..=5).collect(), |i: &i32| *i, Some(2), 2);
        assert_eq!((second, next), (vec![3, 4], Some(4)));
        let (last, next) = page((1..=5).collect(), |i: &i32| *i, Some(4), 2);
        assert_eq!((last, next), (vec![5], None));
        let (exact, next) = page((1..=4).collect(), |i: &i32| *i, Some(2), 2);
        assert_eq!((exact, next), (vec![3, 4], None));
    }

    #[test]
    fn leases_pulls_and_rejections() {
        let s = Duration::from_secs;
        assert_eq!(lease_ms(Duration::ZERO, 60, 3600), Ok(60_000));
        assert_eq!(lease_ms(s(5), 60, 3600), Ok(5_000));
        for bad in [Duration::from_millis(500), s(3601)] {
            assert_eq!(
                lease_ms(bad, 60, 3600).unwrap_err().to_string(),
                "lease: must be 1 to 3600 seconds"
            );
        }
        assert_eq!(max_messages(0), Ok(16));
        assert_eq!(max_messages(256), Ok(256));
        assert_eq!(
            max_messages(257).unwrap_err().to_string(),
            "max_messages: must be at most 256"
        );
        assert_eq!(pull_wait(s(60)), Ok(s(60)));
        assert_eq!(
            pull_wait(s(61)).unwrap_err().to_string(),
            "wait: must be at most 60 seconds"
        );
        let technical = Some(RejectReason::Technical);
        assert_eq!(rejection(technical, "kapot"), Ok(RejectReason::Technical));
        assert!(
            rejection(None, "")
                .unwrap_err()
                .to_string()
                .starts_with("reason: is required")
        );
        for bad in ["a\nb".to_string(), "x".repeat(257)] {
            assert_eq!(
                rejection(technical, &bad).unwrap_err().to_string(),
                "detail: must be one line of at most 256 characters"
            );
        }
    }
}
