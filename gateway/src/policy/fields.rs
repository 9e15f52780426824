//! Rules for single fields, shared by the request rules: text lengths, one
//! line, dates, BSNs, OINs, ids, contacts.

use schakel_proto::v1 as pb;
use time::Date;

use super::{Violation, bsn, invalid};
use crate::model::{CaseId, ConsentId, MessageId, OIN_RULE, Oin, UUID_RULE, iso_date};

/// A date written "YYYY-MM-DD".
pub fn date(field: &str, value: &str) -> Result<Date, Violation> {
    iso_date::parse(value).ok_or_else(|| invalid(field, "must be a date written YYYY-MM-DD"))
}

/// A required date written "YYYY-MM-DD".
pub fn required_date(field: &str, value: &str) -> Result<Date, Violation> {
    if value.is_empty() {
        return Err(invalid(field, "is required"));
    }
    date(field, value)
}

/// Text of `min` to `max` characters (`min` counts non-blank ones).
pub fn text(field: &str, value: &str, min: usize, max: usize) -> Result<(), Violation> {
    let n = value.trim().chars().count();
    if n < min {
        return Err(invalid(field, "is required"));
    }
    if value.chars().count() > max {
        return Err(invalid(field, format!("must be at most {max} characters")));
    }
    Ok(())
}

/// One line of text without control characters.
pub fn one_line(field: &str, value: &str, min: usize, max: usize) -> Result<(), Violation> {
    text(field, value, min, max)?;
    if value.chars().any(char::is_control) {
        return Err(invalid(
            field,
            "must be one line without control characters",
        ));
    }
    Ok(())
}

/// A reason someone gives (for a revocation, an access report): one line
/// of 1 to 256 characters, trimmed.
pub fn reason(field: &str, value: &str) -> Result<String, Violation> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > 256 || value.chars().any(char::is_control) {
        return Err(invalid(
            field,
            "is required: one line of at most 256 characters, without personal data",
        ));
    }
    Ok(value.to_owned())
}

/// The rule a BSN follows, as refusals name it.
pub const BSN_RULE: &str = "must be a BSN of 9 digits that passes the elfproef";

/// A BSN that passes the elfproef.
pub fn bsn(field: &str, value: &str) -> Result<(), Violation> {
    if value.is_empty() {
        return Err(invalid(field, "is required"));
    }
    if !bsn::is_valid(value) {
        return Err(invalid(field, BSN_RULE));
    }
    Ok(())
}

/// An OIN.
pub fn oin(field: &str, value: &str) -> Result<Oin, Violation> {
    Oin::parse(value).map_err(|_| invalid(field, OIN_RULE))
}

fn required(field: &str, value: &str) -> Result<(), Violation> {
    if value.is_empty() {
        Err(invalid(field, "is required"))
    } else {
        Ok(())
    }
}

/// A message id.
pub fn message_id(field: &str, value: &str) -> Result<MessageId, Violation> {
    required(field, value)?;
    MessageId::parse(value).map_err(|_| invalid(field, UUID_RULE))
}

/// A consent id.
pub fn consent_id(field: &str, value: &str) -> Result<ConsentId, Violation> {
    required(field, value)?;
    ConsentId::parse(value).map_err(|_| invalid(field, UUID_RULE))
}

/// A case id, as the gateway gave it; empty is None.
pub fn case_id(field: &str, value: &str) -> Result<Option<CaseId>, Violation> {
    if value.is_empty() {
        return Ok(None);
    }
    CaseId::parse(value).map(Some).map_err(|_| {
        invalid(
            field,
            "must be a case id as the gateway gave it (a UUID); put your own reference in case_reference",
        )
    })
}

/// A contact: name, role, and a phone number or an e-mail address.
pub fn contact(field: &str, c: Option<&pb::Contact>) -> Result<(), Violation> {
    let c = c.ok_or_else(|| invalid(field, "is required"))?;
    one_line(&format!("{field}.name"), &c.name, 1, 128)?;
    one_line(&format!("{field}.role"), &c.role, 1, 64)?;
    if c.phone.is_empty() && c.email.is_empty() {
        return Err(invalid(field, "needs a phone number or an e-mail address"));
    }
    if !c.phone.is_empty() {
        let digits = c.phone.bytes().filter(u8::is_ascii_digit).count();
        let allowed = c
            .phone
            .bytes()
            .all(|b| b.is_ascii_digit() || b" +-()".contains(&b));
        if !allowed || !(6..=15).contains(&digits) {
            return Err(invalid(
                format!("{field}.phone"),
                "must be 6 to 15 digits, with only spaces, +, - and parentheses besides",
            ));
        }
    }
    if !c.email.is_empty() && !is_email(&c.email) {
        return Err(invalid(
            format!("{field}.email"),
            "must be an e-mail address",
        ));
    }
    Ok(())
}

fn is_email(email: &str) -> bool {
    let parts: Vec<&str> = email.split('@').collect();
    parts.len() == 2
        && !parts[0].is_empty()
        && parts[1].contains('.')
        && !parts[1].starts_with('.')
        && !parts[1].ends_with('.')
        && email.len() <= 254
        && !email
            .chars()
            .any(|ch| ch.is_whitespace() || ch.is_control())
}

/// A BRIN: 2 digits and 2 capital letters.
pub fn is_brin(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() == 4
        && b[..2].iter().all(u8::is_ascii_digit)
        && b[2..].iter().all(u8::is_ascii_uppercase)
}

/// Exactly `n` ASCII digits.
pub fn is_digits(value: &str, n: usize) -> bool {
    value.len() == n && value.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(r: Result<impl std::fmt::Debug, Violation>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn text_and_lines() {
        assert!(text("f", "ab", 1, 2).is_ok());
        assert_eq!(field_of(text("f", "  ", 1, 2)), "f: is required");
        assert_eq!(
            field_of(text("f", "abc", 0, 2)),
            "f: must be at most 2 characters"
        );
        assert_eq!(
            field_of(one_line("f", "a\nb", 0, 9)),
            "f: must be one line without control characters"
        );
        // Characters, not bytes.
        assert!(text("f", "ëë", 0, 2).is_ok());
    }

    #[test]
    fn dates_ids_and_numbers() {
        assert!(date("d", "2026-02-28").is_ok());
        assert_eq!(
            field_of(date("d", "28-02-2026")),
            "d: must be a date written YYYY-MM-DD"
        );
        assert_eq!(field_of(required_date("d", "")), "d: is required");
        assert_eq!(field_of(bsn("b", "")), "b: is required");
        assert_eq!(field_of(bsn("b", "111222334")), format!("b: {BSN_RULE}"));
        assert!(bsn("b", "111222333").is_ok());
        assert_eq!(field_of(oin("o", "123")), format!("o: {OIN_RULE}"));
        assert_eq!(field_of(message_id("m", "")), "m: is required");
        assert_eq!(field_of(consent_id("c", "x")), format!("c: {UUID_RULE}"));
        assert!(is_brin("12AB") && !is_brin("AB12") && !is_brin("12ab"));
        assert!(is_digits("0123", 4) && !is_digits("012", 4));
    }

    #[test]
    fn contacts() {
        let ok = pb::Contact {
            name: "J. de Vries".into(),
            role: "ib".into(),
            phone: "+31 (71) 123-4567".into(),
            email: String::new(),
        };
        assert!(contact("c", Some(&ok)).is_ok());
        type Edit = fn(&mut pb::Contact);
        let cases: Vec<(Edit, &str)> = vec![
            (|c| c.name.clear(), "c.name: is required"),
            (
                |c| c.role = "r".repeat(65),
                "c.role: must be at most 64 characters",
            ),
            (
                |c| c.phone.clear(),
                "c: needs a phone number or an e-mail address",
            ),
            (
                |c| c.phone = "12345".into(),
                "c.phone: must be 6 to 15 digits",
            ),
            (
                |c| c.phone = "071 123 456 7x".into(),
                "c.phone: must be 6 to 15 digits",
            ),
            (
                |c| c.email = "a@b".into(),
                "c.email: must be an e-mail address",
            ),
            (
                |c| c.email = "a b@c.nl".into(),
                "c.email: must be an e-mail address",
            ),
        ];
        for (edit, expected) in cases {
            let mut c = ok.clone();
            edit(&mut c);
            let got = field_of(contact("c", Some(&c)));
            assert!(
                got.starts_with(expected),
                "{got} should start with {expected}"
            );
        }
        assert_eq!(field_of(contact("c", None)), "c: is required");
        let email_only = pb::Contact {
            phone: String::new(),
            email: "a.bakker@example.org".into(),
            ..ok
        };
        assert!(contact("c", Some(&email_only)).is_ok());
    }
}
