//! The contract's calendar: days are calendar days in the Netherlands
//! (Europe/Amsterdam). A consent lapses at the start of a Dutch birthday, a
//! message is overdue after three Dutch working days, and a client that
//! turns "the last day" into a moment does it the same way as the gateway.
//!
//! The Dutch offset follows the EU rule in force since 1996 (CET, UTC+1;
//! CEST, UTC+2 from the last Sunday of March to the last Sunday of October,
//! switching at 01:00 UTC), computed here rather than read from a time-zone
//! database, so that neither side needs one installed. Dutch public holidays
//! are not working days in practice, but the rules here count Monday to
//! Friday only.

use time::{Date, Month, OffsetDateTime, Weekday};

/// Unix milliseconds of a moment.
pub fn ms_of(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The UTC date of a moment given in Unix milliseconds, if it is within the
/// range of dates.
pub fn date_of_ms(ms: i64) -> Option<Date> {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .map(|t| t.date())
}

/// The last Sunday of `month` in `year`, at 01:00 UTC, in Unix ms: when the
/// EU switches to or from summer time.
fn switch_ms(year: i32, month: Month) -> Option<i64> {
    let next = if month == Month::December {
        Date::from_calendar_date(year + 1, Month::January, 1)
    } else {
        Date::from_calendar_date(year, month.next(), 1)
    }
    .ok()?;
    let mut day = next.previous_day()?;
    while day.weekday() != Weekday::Sunday {
        day = day.previous_day()?;
    }
    Some(ms_of(day.midnight().assume_utc()) + 3_600_000)
}

/// Whether the Netherlands is on summer time (UTC+2) at Unix ms `ms`.
fn summer_time(ms: i64) -> bool {
    let Some(year) = date_of_ms(ms).map(|d| d.year()) else {
        return false;
    };
    match (
        switch_ms(year, Month::March),
        switch_ms(year, Month::October),
    ) {
        (Some(start), Some(end)) => start <= ms && ms < end,
        _ => false,
    }
}

/// The Dutch offset from UTC at Unix ms `ms`, in ms.
fn offset_ms(ms: i64) -> i64 {
    if summer_time(ms) {
        7_200_000
    } else {
        3_600_000
    }
}

/// The Dutch calendar date of a moment given in Unix ms.
pub fn local_date_of_ms(ms: i64) -> Option<Date> {
    date_of_ms(ms.checked_add(offset_ms(ms))?)
}

/// Today's date in the Netherlands, where the gateway counts its days (from
/// 23:00 or 22:00 UTC it is already tomorrow there).
pub fn dutch_today() -> Date {
    let now = OffsetDateTime::now_utc();
    local_date_of_ms(ms_of(now)).unwrap_or(now.date())
}

/// The moment (Unix ms) day `d` starts in the Netherlands. The EU switches
/// at 02:00 or 03:00 local time, never at midnight, so midnight is always
/// one moment.
pub fn start_of_day_ms(d: Date) -> i64 {
    let midnight = ms_of(d.midnight().assume_utc());
    let summer = midnight - 7_200_000;
    if summer_time(summer) {
        summer
    } else {
        midnight - 3_600_000
    }
}

/// The date `n` working days (Monday to Friday) after `d`.
pub fn working_days_after(d: Date, n: u32) -> Date {
    let mut day = d;
    let mut left = n;
    while left > 0 {
        day = day.next_day().unwrap_or(Date::MAX);
        if !matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday) {
            left -= 1;
        }
    }
    day
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    fn ms(t: OffsetDateTime) -> i64 {
        ms_of(t)
    }

    #[test]
    fn dates_of_milliseconds() {
        assert_eq!(date_of_ms(0), Some(date!(1970 - 01 - 01)));
        assert_eq!(date_of_ms(-1), Some(date!(1969 - 12 - 31)));
        assert_eq!(date_of_ms(i64::MAX), None);
    }

    #[test]
    fn dutch_days_start_at_local_midnight_in_winter_and_summer() {
        // Winter: UTC+1.
        assert_eq!(
            start_of_day_ms(date!(2026 - 01 - 15)),
            ms(datetime!(2026-01-14 23:00 UTC))
        );
        // Summer: UTC+2.
        assert_eq!(
            start_of_day_ms(date!(2026 - 07 - 01)),
            ms(datetime!(2026-06-30 22:00 UTC))
        );
        // The Sundays of the switches (29 March and 25 October 2026) start
        // on the offset of the night before.
        assert_eq!(
            start_of_day_ms(date!(2026 - 03 - 29)),
            ms(datetime!(2026-03-28 23:00 UTC))
        );
        assert_eq!(
            start_of_day_ms(date!(2026 - 03 - 30)),
            ms(datetime!(2026-03-29 22:00 UTC))
        );
        assert_eq!(
            start_of_day_ms(date!(2026 - 10 - 25)),
            ms(datetime!(2026-10-24 22:00 UTC))
        );
        assert_eq!(
            start_of_day_ms(date!(2026 - 10 - 26)),
            ms(datetime!(2026-10-25 23:00 UTC))
        );
    }

    #[test]
    fn the_dutch_date_differs_from_the_utc_date_late_in_the_evening() {
        let late = ms(datetime!(2026-06-30 22:30 UTC));
        assert_eq!(date_of_ms(late), Some(date!(2026 - 06 - 30)));
        assert_eq!(local_date_of_ms(late), Some(date!(2026 - 07 - 01)));
        let winter = ms(datetime!(2026-12-31 23:00 UTC));
        assert_eq!(local_date_of_ms(winter), Some(date!(2027 - 01 - 01)));
        assert_eq!(
            local_date_of_ms(ms(datetime!(2026-12-31 22:59:59 UTC))),
            Some(date!(2026 - 12 - 31))
        );
        // Each day's start belongs to that day, the moment before to the one before.
        for d in [
            date!(2026 - 03 - 29),
            date!(2026 - 10 - 25),
            date!(2028 - 02 - 29),
        ] {
            let start = start_of_day_ms(d);
            assert_eq!(local_date_of_ms(start), Some(d));
            assert_eq!(local_date_of_ms(start - 1), d.previous_day());
        }
    }

    #[test]
    fn working_days_skip_the_weekend() {
        // Monday 23 November 2026 + 3 = Thursday.
        assert_eq!(
            working_days_after(date!(2026 - 11 - 23), 3),
            date!(2026 - 11 - 26)
        );
        // Friday + 3 = Wednesday; Saturday + 3 = Wednesday too.
        assert_eq!(
            working_days_after(date!(2026 - 11 - 27), 3),
            date!(2026 - 12 - 02)
        );
        assert_eq!(
            working_days_after(date!(2026 - 11 - 28), 3),
            date!(2026 - 12 - 02)
        );
        assert_eq!(
            working_days_after(date!(2026 - 11 - 28), 0),
            date!(2026 - 11 - 28)
        );
    }
}
