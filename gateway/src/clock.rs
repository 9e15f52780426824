//! The gateway's clock. Every layer reads time here, so that rules stay
//! pure (they take `now` as an argument) and the one place that asks the
//! system is easy to find.
//!
//! Days are calendar days in the Netherlands (Europe/Amsterdam): a birthday,
//! the day a consent lapses, a working day. The calendar is the contract's
//! ([`schakel_proto::calendar`]), so that clients count days the same way.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

pub use schakel_proto::calendar::{
    date_of_ms, local_date_of_ms, ms_of, start_of_day_ms, working_days_after,
};
use time::{Date, Duration, OffsetDateTime};

/// The gateway's clock: the system's time, plus an offset that only moves
/// forward and only when a test asks (rules that take days, such as a
/// consent lapsing at a birthday, are tested by moving it). Clones share
/// the offset.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// The system's clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// Milliseconds since the Unix epoch, now.
    pub fn now_ms(&self) -> i64 {
        ms_of(OffsetDateTime::now_utc()) + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Seconds since the Unix epoch, now.
    pub fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// Today's date in the Netherlands.
    pub fn today(&self) -> Date {
        local_date_of_ms(self.now_ms()).unwrap_or(Date::MAX)
    }

    /// Moves this clock (and its clones) forward by `by`: for tests of what
    /// happens days or years from now. Never moves it back, so the audit
    /// chain's times never decrease.
    pub fn advance(&self, by: Duration) {
        let ms = by.whole_milliseconds().clamp(0, i64::MAX as i128) as i64;
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_moves_forward_only_and_clones_share_it() {
        let clock = Clock::system();
        let twin = clock.clone();
        let before = twin.now_ms();
        assert!(before > 1_700_000_000_000);
        clock.advance(Duration::days(2));
        assert!(twin.now_ms() >= before + 2 * 86_400_000);
        clock.advance(Duration::days(-5));
        assert!(twin.now_ms() >= before + 2 * 86_400_000);
    }
}
