//! The gateway's clock. Every layer reads time here, so that rules stay pure
//! (they take `now` as an argument) and the one place that asks the system
//! is easy to find.

use time::{Date, OffsetDateTime};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    ms_of(OffsetDateTime::now_utc())
}

/// Seconds since the Unix epoch, now.
pub fn now_secs() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// Today's date (UTC).
pub fn today() -> Date {
    OffsetDateTime::now_utc().date()
}

/// Unix milliseconds of a moment.
pub fn ms_of(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The date (UTC) of a moment given in Unix milliseconds, if it is within
/// the range of dates.
pub fn date_of_ms(ms: i64) -> Option<Date> {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .map(|t| t.date())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn dates_of_milliseconds() {
        assert_eq!(date_of_ms(0), Some(date!(1970 - 01 - 01)));
        assert_eq!(date_of_ms(-1), Some(date!(1969 - 12 - 31)));
        assert_eq!(date_of_ms(i64::MAX), None);
        assert!(now_ms() > 1_700_000_000_000);
    }
}
