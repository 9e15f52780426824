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

#[cfg(test)]
mod tests {
    use super::*;

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
