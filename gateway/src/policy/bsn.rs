//! The burgerservicenummer (BSN) rule: 9 digits that pass the elfproef.
//!
//! The gateway checks a BSN only to refuse obvious typing errors early, and
//! then keeps no more than a keyed hash of it ([`crate::crypto::ChildKey`]).

/// Whether `bsn` is 9 digits, not all zero, passing the elfproef:
/// 9·d1 + 8·d2 + … + 2·d8 − 1·d9 is divisible by 11.
pub fn is_valid(bsn: &str) -> bool {
    let digits: Vec<i64> = bsn
        .bytes()
        .map(|b| i64::from(b) - i64::from(b'0'))
        .collect();
    if digits.len() != 9
        || digits.iter().any(|d| !(0..=9).contains(d))
        || digits.iter().all(|d| *d == 0)
    {
        return false;
    }
    let sum: i64 = digits[..8]
        .iter()
        .zip((2..=9).rev())
        .map(|(d, w)| d * w)
        .sum::<i64>()
        - digits[8];
    sum % 11 == 0
}

/// Whether `text` holds what is most likely a BSN: 9 digits in a row that
/// pass the elfproef, or 9 digits written in groups with spaces, dots or
/// dashes between them ("111 222 333", "1112.22.333"), standing as a word
/// of their own. Longer numbers (an OIN, a telephone number), shorter ones,
/// and digits inside a word (the hex of an id) are not.
pub fn found_in(text: &str) -> bool {
    let bytes = text.as_bytes();
    let word = |at: usize| bytes.get(at).is_some_and(u8::is_ascii_alphanumeric);
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() || (i > 0 && word(i - 1)) {
            i += 1;
            continue;
        }
        // A group: digits, with single separators between digits.
        let (mut grouped, mut run) = (String::new(), String::new());
        let mut j = i;
        while j < bytes.len() {
            let b = bytes[j];
            if b.is_ascii_digit() {
                grouped.push(b as char);
                run.push(b as char);
            } else if matches!(b, b' ' | b'.' | b'-')
                && bytes.get(j + 1).is_some_and(u8::is_ascii_digit)
            {
                if run.len() == 9 && is_valid(&run) {
                    return true;
                }
                run.clear();
            } else {
                break;
            }
            j += 1;
        }
        let ends_word = !word(j);
        if ends_word
            && ((run.len() == 9 && is_valid(&run)) || (grouped.len() == 9 && is_valid(&grouped)))
        {
            return true;
        }
        i = j.max(i + 1);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bsn_is_found_in_free_text_however_it_is_written() {
        for text in [
            "111222333",
            "leerling 111222333, groep 7",
            "bsn: 111 222 333",
            "1112.22.333",
            "111-22-2333.",
            "111222333 en 444",
        ] {
            assert!(found_in(text), "{text}");
        }
        for text in [
            "",
            "111222334",
            "00000001234567890000",
            "06-12345678",
            "2024-05-03",
            "01a24d80-8058-70df-b349-72f98ca74357",
            "dossier 12345678",
            "1112223330",
            "abcd1234-5678-7abc",
            "x111222333",
            "111222333x",
        ] {
            assert!(!found_in(text), "{text}");
        }
    }

    #[test]
    fn the_elfproef() {
        // Test BSNs from public examples that pass the elfproef.
        for ok in ["111222333", "123456782", "999999990"] {
            assert!(is_valid(ok), "{ok}");
        }
        for bad in [
            "111222334",
            "12345678",
            "1234567890",
            "12345678a",
            "000000000",
            " 11222333",
            "",
        ] {
            assert!(!is_valid(bad), "{bad}");
        }
    }
}
