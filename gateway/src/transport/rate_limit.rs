//! Request-rate limits per participant: a token bucket per OIN, so that one
//! organisation's runaway system cannot crowd out the others. A call over
//! the limit is refused with a message naming the limit, and changes
//! nothing.
//!
//! The buckets live in this process: with several gateway instances each
//! enforces the limit on the calls it serves (a per-instance limit).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use super::AccessError;
use crate::metrics::METRICS;
use crate::model::Oin;

/// The limiter.
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<Bucket, (f64, Instant)>>,
}

/// Whose calls a bucket counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Bucket {
    /// A participant's.
    Oin(Oin),
    /// Those of a caller that needs no directory entry (health,
    /// reflection), by its certificate's SHA-256 in hex.
    Certificate(String),
}

impl std::fmt::Display for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bucket::Oin(oin) => write!(f, "OIN {oin}"),
            Bucket::Certificate(digest) => write!(f, "certificate {digest}"),
        }
    }
}

impl RateLimiter {
    /// At most `per_second` calls a second per participant on average, and
    /// `burst` at once; `per_second` 0 turns the limit off.
    pub fn new(per_second: u32, burst: u32) -> Self {
        Self {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one call from `oin`'s bucket, or refuses it.
    pub fn check(&self, oin: &Oin) -> Result<(), AccessError> {
        self.take(oin, 1)
    }

    /// Takes `calls` calls from `oin`'s bucket at once (the items of a batch
    /// beyond the call itself), or refuses them all and takes none.
    pub fn take(&self, oin: &Oin, calls: u32) -> Result<(), AccessError> {
        self.take_for(Bucket::Oin(oin.clone()), calls)
    }

    /// Takes one call of a caller known only by its certificate (`digest`,
    /// in hex): health checks and reflection need no directory entry, but
    /// they are calls all the same.
    pub fn check_certificate(&self, digest: &str) -> Result<(), AccessError> {
        self.take_for(Bucket::Certificate(digest.to_owned()), 1)
    }

    fn take_for(&self, who: Bucket, calls: u32) -> Result<(), AccessError> {
        if self.per_second == 0.0 || calls == 0 {
            return Ok(());
        }
        let calls = f64::from(calls);
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let (tokens, last) = buckets.entry(who.clone()).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*last).as_secs_f64() * self.per_second).min(self.burst);
        *last = now;
        if *tokens < calls {
            METRICS
                .refusals
                .get_or_create(&vec![("cause", "rate_limit".to_owned())])
                .inc();
            return Err(AccessError::Exhausted(format!(
                "rate limit: at most {} calls a second (bursts of {}) for {who}, each item of a batch counted as a call; slow down and retry",
                self.per_second, self.burst
            )));
        }
        *tokens -= calls;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_takes_a_call_per_item_or_none() {
        let limiter = RateLimiter::new(1, 10);
        let oin = Oin::parse("00000099100000000001").unwrap();
        limiter.take(&oin, 8).unwrap();
        let e = limiter.take(&oin, 3).unwrap_err().to_string();
        assert!(e.contains("each item of a batch"), "{e}");
        // The refused batch took nothing: two single calls still pass.
        limiter.check(&oin).unwrap();
        limiter.check(&oin).unwrap();
        assert!(limiter.check(&oin).is_err());
    }

    #[test]
    fn a_burst_is_allowed_then_the_rate() {
        let a = Oin::parse("00000099100000000001").unwrap();
        let b = Oin::parse("00000099100000000002").unwrap();
        let limiter = RateLimiter::new(1, 3);
        for _ in 0..3 {
            limiter.check(&a).unwrap();
        }
        let AccessError::Exhausted(refused) = limiter.check(&a).unwrap_err() else {
            panic!("exhausted");
        };
        assert!(refused.contains("at most 1 calls a second"), "{refused}");
        // Others have their own bucket.
        limiter.check(&b).unwrap();
        // Off.
        let off = RateLimiter::new(0, 0);
        for _ in 0..1000 {
            off.check(&a).unwrap();
        }
    }
}
