//! An anonymous consultation stays anonymous. A consultatieverzoek without
//! a BSN travels on `no_personal_data`, without consent; that holds only
//! while nothing in it names the child. Its free text is refused when it
//! holds a BSN or what is most likely a date of birth: a full date in the
//! past that makes someone at most 30 years old (at least a year ago, so
//! that a meeting last week or a deadline is not taken for one), or any full
//! date right after a word for birth ("geboren", "geb.", "geboortedatum").

use time::{Date, Month};

use super::bsn;

/// The words after which a date is a date of birth, whatever it is.
const BIRTH_WORDS: [&str; 4] = ["geboren", "geb.", "geboortedatum", "dob"];

/// What in `text` would name the child of an anonymous consultation on
/// `today`, if anything.
pub fn names_the_child(text: &str, today: Date) -> Option<&'static str> {
    if bsn::found_in(text) {
        return Some("a BSN");
    }
    let lower = text.to_lowercase();
    for (at, date) in dates_in(&lower) {
        let before = &lower[..at];
        let tail = before
            .get(before.len().saturating_sub(24)..)
            .unwrap_or(before);
        let after_birth_word = BIRTH_WORDS.iter().any(|w| tail.contains(w));
        let years = today.year() - date.year();
        let likely_birth =
            date <= today.replace_year(today.year() - 1).unwrap_or(today) && years <= 30;
        if after_birth_word || likely_birth {
            return Some("a date of birth");
        }
    }
    None
}

/// Every full date in `text` (day-month-year with `-`, `/` or `.`, or
/// year-month-day), with where it starts.
fn dates_in(text: &str) -> Vec<(usize, Date)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() || (i > 0 && bytes[i - 1].is_ascii_alphanumeric()) {
            i += 1;
            continue;
        }
        // Up to three numbers joined by one separator of the same kind.
        let mut parts = Vec::new();
        let mut j = i;
        let mut sep = None;
        loop {
            let start = j;
            while j < bytes.len() && bytes[j].is_ascii_digit() {
                j += 1;
            }
            parts.push(&text[start..j]);
            let next = bytes.get(j).copied();
            if parts.len() < 3
                && matches!(next, Some(b'-' | b'/' | b'.'))
                && sep.is_none_or(|s| Some(s) == next)
                && bytes.get(j + 1).is_some_and(u8::is_ascii_digit)
            {
                sep = next;
                j += 1;
            } else {
                break;
            }
        }
        if parts.len() == 3
            && let Some(date) = as_date(&parts)
        {
            out.push((i, date));
        }
        i = j.max(i + 1);
    }
    out
}

fn as_date(parts: &[&str]) -> Option<Date> {
    let n = |s: &str| s.parse::<i32>().ok();
    let (y, m, d) = match (parts[0].len(), parts[2].len()) {
        (4, 1..=2) => (n(parts[0])?, n(parts[1])?, n(parts[2])?),
        (1..=2, 4) => (n(parts[2])?, n(parts[1])?, n(parts[0])?),
        _ => return None,
    };
    let month = Month::try_from(u8::try_from(m).ok()?).ok()?;
    Date::from_calendar_date(y, month, u8::try_from(d).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> Date {
        Date::from_calendar_date(2026, Month::December, 6).unwrap()
    }

    #[test]
    fn a_bsn_or_a_date_of_birth_names_the_child() {
        for (text, what) in [
            ("leerling 111222333 valt op", "a BSN"),
            ("jongen van 3-5-2015, groep 7", "a date of birth"),
            ("meisje, 2016-11-30, veel verzuim", "a date of birth"),
            ("geboren 01.02.2025", "a date of birth"),
            ("geboortedatum: 6/12/2026", "a date of birth"),
        ] {
            assert_eq!(names_the_child(text, today()), Some(what), "{text}");
        }
    }

    #[test]
    fn other_dates_and_numbers_do_not() {
        for text in [
            "gesprek op 12-12-2026 om 10:00",
            "sinds 15-09-2026 verzuim",
            "een leerling van groep 7 met veel verzuim",
            "bel 06-12345678",
            "opa, 01-01-1950",
            "schooljaar 2025-2026",
        ] {
            assert_eq!(names_the_child(text, today()), None, "{text}");
        }
    }
}
