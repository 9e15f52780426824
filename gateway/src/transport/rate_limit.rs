//! Request-rate limits: a token bucket per client certificate and one per
//! organisation, so that one organisation's runaway system cannot crowd out
//! the others, and one certificate cannot crowd out the other certificates
//! of its organisation. A call over a limit is refused with a message
//! naming the limit, and changes nothing.
//!
//! A call takes from its certificate's bucket before anything is read for
//! it, and from its organisation's only once the certificate was admitted
//! (valid, not revoked, pinned where pins are set, its participant active):
//! a refused certificate spends its own bucket, never its organisation's.
//!
//! The buckets live in this process: with several gateway instances each
//! enforces the limits on the calls it serves (per-instance limits).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use super::AccessError;
use crate::crypto::Digest;
use crate::metrics::METRICS;
use crate::model::Oin;

/// A rate: calls a second on average, and at most `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Calls a second; 0 turns the limit off.
    pub per_second: f64,
    /// Calls at once.
    pub burst: f64,
    /// The settings that set it, for the refusal's message.
    pub settings: &'static str,
}

impl Rate {
    /// `per_second` calls a second in bursts of `burst`, set by `settings`.
    pub fn new(per_second: u32, burst: u32, settings: &'static str) -> Self {
        Self {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            settings,
        }
    }
}

/// The limiter.
pub struct RateLimiter {
    organisation: Rate,
    certificate: Rate,
    buckets: Mutex<HashMap<Bucket, (f64, Instant)>>,
}

/// The most buckets kept; past it, full buckets are forgotten (a full
/// bucket is what a new one starts as), so that a flood of certificates
/// cannot grow the table without bound.
const MAX_BUCKETS: usize = 100_000;

/// Whose calls a bucket counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Bucket {
    /// An organisation's, over all its certificates.
    Oin(Oin),
    /// One client certificate's, by its SHA-256.
    Certificate(Digest),
}

impl std::fmt::Display for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bucket::Oin(oin) => write!(f, "OIN {oin}"),
            Bucket::Certificate(digest) => write!(f, "certificate SHA-256 {digest}"),
        }
    }
}

impl RateLimiter {
    /// At most `organisation` per participant and `certificate` per client
    /// certificate.
    pub fn new(organisation: Rate, certificate: Rate) -> Self {
        Self {
            organisation,
            certificate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one call from certificate `cert`'s bucket, or refuses it:
    /// asked before anything is read for the call.
    pub fn check_certificate(&self, cert: &Digest) -> Result<(), AccessError> {
        self.take_all(&[(Bucket::Certificate(*cert), self.certificate)], 1)
    }

    /// Takes one call from organisation `oin`'s bucket, or refuses it:
    /// asked once the call's certificate was admitted.
    pub fn check_organisation(&self, oin: &Oin) -> Result<(), AccessError> {
        self.take_all(&[(Bucket::Oin(oin.clone()), self.organisation)], 1)
    }

    /// Takes `calls` calls from both `cert`'s and `oin`'s buckets at once
    /// (the items of a batch beyond the call itself), or refuses them all
    /// and takes none.
    pub fn take(&self, oin: &Oin, cert: &Digest, calls: u32) -> Result<(), AccessError> {
        self.take_all(
            &[
                (Bucket::Certificate(*cert), self.certificate),
                (Bucket::Oin(oin.clone()), self.organisation),
            ],
            calls,
        )
    }

    fn take_all(&self, buckets_of: &[(Bucket, Rate)], calls: u32) -> Result<(), AccessError> {
        if calls == 0 {
            return Ok(());
        }
        let calls = f64::from(calls);
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= MAX_BUCKETS {
            let (organisation, certificate) = (self.organisation, self.certificate);
            buckets.retain(|who, (tokens, last)| {
                let rate = match who {
                    Bucket::Oin(_) => organisation,
                    Bucket::Certificate(_) => certificate,
                };
                *tokens + now.duration_since(*last).as_secs_f64() * rate.per_second < rate.burst
            });
            if buckets.len() >= MAX_BUCKETS {
                buckets.clear();
            }
        }
        let mut refill = Vec::with_capacity(buckets_of.len());
        for (who, rate) in buckets_of {
            if rate.per_second == 0.0 {
                continue;
            }
            let (tokens, last) = buckets.entry(who.clone()).or_insert((rate.burst, now));
            let tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate.per_second)
                .min(rate.burst);
            if tokens < calls {
                METRICS
                    .refusals
                    .get_or_create(&vec![("cause", "rate_limit".to_owned())])
                    .inc();
                return Err(AccessError::Exhausted(format!(
                    "rate limit: at most {} calls a second (bursts of {}) for {who} ({}), each item of a batch counted as a call; slow down and retry",
                    rate.per_second, rate.burst, rate.settings
                )));
            }
            refill.push((who, tokens));
        }
        for (who, tokens) in refill {
            buckets.insert(who.clone(), (tokens - calls, now));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter_of(org: (u32, u32), cert: (u32, u32)) -> RateLimiter {
        RateLimiter::new(
            Rate::new(org.0, org.1, "limits.requests_per_second"),
            Rate::new(cert.0, cert.1, "limits.requests_per_second_per_certificate"),
        )
    }

    #[test]
    fn a_batch_takes_a_call_per_item_from_both_buckets_or_none() {
        let limiter = limiter_of((1, 10), (1, 100));
        let oin = Oin::parse("00000099100000000001").unwrap();
        let cert = Digest([1; 32]);
        limiter.take(&oin, &cert, 8).unwrap();
        let e = limiter.take(&oin, &cert, 3).unwrap_err().to_string();
        assert!(e.contains("each item of a batch"), "{e}");
        assert!(e.contains("limits.requests_per_second)"), "{e}");
        // The refused batch took nothing: two single calls still pass.
        limiter.check_organisation(&oin).unwrap();
        limiter.check_organisation(&oin).unwrap();
        assert!(limiter.check_organisation(&oin).is_err());
        // The certificate's bucket lost only what passed (8), not the 3.
        for _ in 0..92 {
            limiter.check_certificate(&cert).unwrap();
        }
        assert!(limiter.check_certificate(&cert).is_err());
    }

    #[test]
    fn a_burst_is_allowed_then_the_rate_each_certificate_on_its_own() {
        let a = Oin::parse("00000099100000000001").unwrap();
        let b = Oin::parse("00000099100000000002").unwrap();
        let limiter = limiter_of((1, 3), (1, 2));
        for _ in 0..3 {
            limiter.check_organisation(&a).unwrap();
        }
        let AccessError::Exhausted(refused) = limiter.check_organisation(&a).unwrap_err() else {
            panic!("exhausted");
        };
        assert!(refused.contains("at most 1 calls a second"), "{refused}");
        // Others have their own bucket.
        limiter.check_organisation(&b).unwrap();
        // A certificate that spends its bucket leaves another's, and its
        // organisation's, as they were.
        let (spent, other) = (Digest([1; 32]), Digest([2; 32]));
        limiter.check_certificate(&spent).unwrap();
        limiter.check_certificate(&spent).unwrap();
        let e = limiter.check_certificate(&spent).unwrap_err().to_string();
        assert!(
            e.contains("limits.requests_per_second_per_certificate"),
            "{e}"
        );
        limiter.check_certificate(&other).unwrap();
        // Off.
        let off = limiter_of((0, 0), (0, 0));
        for _ in 0..1000 {
            off.check_organisation(&a).unwrap();
            off.take(&a, &spent, 5).unwrap();
        }
    }

    #[test]
    fn a_flood_of_certificates_is_held_to_a_bounded_table() {
        let limiter = limiter_of((1, 1), (1, 1));
        for i in 0..(MAX_BUCKETS + 10) {
            let mut d = [0; 32];
            d[..8].copy_from_slice(&(i as u64).to_be_bytes());
            limiter.check_certificate(&Digest(d)).unwrap();
        }
        let kept = limiter.buckets.lock().unwrap().len();
        assert!(kept <= MAX_BUCKETS, "{kept}");
    }
}
