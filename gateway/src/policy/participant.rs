//! The rules of a directory entry: the codes each kind of organisation is
//! known by, and their formats.

use super::fields::{is_brin, is_digits};
use super::{Violation, invalid};
use crate::crypto::Digest;
use crate::model::{GATEWAY_OIN, OrgKind, Participant};

/// The reason given for a suspension: one line of 1 to 256 characters.
pub fn suspension_reason(reason: &str) -> Result<String, Violation> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 256 {
        return Err(invalid("reason", "must be 1 to 256 characters"));
    }
    Ok(reason.to_owned())
}

/// A certificate fingerprint to pin: the SHA-256 of the certificate's DER,
/// written as 64 lowercase hex characters.
pub fn pin(value: &str) -> Result<Digest, Violation> {
    Digest::from_hex(value).ok_or_else(|| {
        invalid(
            "pinned_cert_sha256",
            "each pin must be 64 lowercase hex characters",
        )
    })
}

/// Checks every field of `p` and the codes its kind needs.
pub fn check(p: &Participant) -> Result<(), Violation> {
    if p.oin.as_str() == GATEWAY_OIN {
        return Err(invalid(
            "oin",
            format!("{GATEWAY_OIN} is reserved for the gateway's own notices"),
        ));
    }
    let name = p.name.trim();
    if name.is_empty() || p.name.chars().count() > 200 {
        return Err(invalid("name", "must be 1 to 200 characters"));
    }
    let c = &p.codes;
    if !c.brin.is_empty() && !is_brin(&c.brin) {
        return Err(invalid(
            "codes.brin",
            "must be 2 digits and 2 capital letters, e.g. 12AB",
        ));
    }
    if !c.vestiging.is_empty() && !is_digits(&c.vestiging, 2) {
        return Err(invalid("codes.vestiging", "must be 2 digits"));
    }
    if !c.vestiging.is_empty() && c.brin.is_empty() {
        return Err(invalid("codes.vestiging", "needs codes.brin"));
    }
    if !c.agb.is_empty() && !is_digits(&c.agb, 8) {
        return Err(invalid("codes.agb", "must be 8 digits"));
    }
    let gemeentecode_ok = c
        .gemeentecode
        .strip_prefix("GM")
        .is_some_and(|n| is_digits(n, 4));
    if !c.gemeentecode.is_empty() && !gemeentecode_ok {
        return Err(invalid(
            "codes.gemeentecode",
            "must be GM and 4 digits, e.g. GM0546",
        ));
    }
    if !c.swv_number.is_empty() {
        let ok = c
            .swv_number
            .strip_prefix("PO ")
            .or_else(|| c.swv_number.strip_prefix("VO "))
            .is_some_and(|n| is_digits(n, 4));
        if !ok {
            return Err(invalid(
                "codes.swv_number",
                "must be PO or VO, a space and 4 digits, e.g. PO 2801",
            ));
        }
    }
    match p.kind {
        OrgKind::School if c.brin.is_empty() => {
            return Err(invalid("codes.brin", "is required for a school"));
        }
        OrgKind::Swv if c.swv_number.is_empty() => {
            return Err(invalid(
                "codes.swv_number",
                "is required for a samenwerkingsverband",
            ));
        }
        OrgKind::Gemeente if c.gemeentecode.is_empty() => {
            return Err(invalid("codes.gemeentecode", "is required for a gemeente"));
        }
        _ => {}
    }
    if p.kind != OrgKind::School && p.sector.is_some() {
        return Err(invalid("sector", "only a school has a sector"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Codes;
    use crate::model::examples::school;

    #[test]
    fn a_valid_school_passes() {
        check(&school()).unwrap();
    }

    #[test]
    fn each_rule_names_its_field() {
        type Edit = fn(&mut Participant);
        let cases: Vec<(Edit, &str)> = vec![
            (|p| p.name = "  ".into(), "name"),
            (|p| p.name = "n".repeat(201), "name"),
            (|p| p.codes.brin = "AB12".into(), "codes.brin"),
            (|p| p.codes.vestiging = "1".into(), "codes.vestiging"),
            (
                |p| {
                    p.kind = OrgKind::Jgt;
                    p.codes.brin.clear();
                },
                "codes.vestiging",
            ),
            (|p| p.codes.agb = "1234".into(), "codes.agb"),
            (
                |p| p.codes.gemeentecode = "0546".into(),
                "codes.gemeentecode",
            ),
            (|p| p.codes.swv_number = "2801".into(), "codes.swv_number"),
            (|p| p.codes = Codes::default(), "codes.brin"),
            (|p| p.kind = OrgKind::Gemeente, "codes.gemeentecode"),
            (|p| p.kind = OrgKind::Swv, "codes.swv_number"),
            (
                |p| {
                    p.kind = OrgKind::VeiligThuis;
                    p.codes = Codes::default();
                },
                "sector",
            ),
            (
                |p| p.oin = crate::model::Oin::parse(GATEWAY_OIN).unwrap(),
                "oin",
            ),
        ];
        for (edit, field) in cases {
            let mut p = school();
            edit(&mut p);
            assert_eq!(check(&p).unwrap_err().field(), Some(field));
        }
    }

    #[test]
    fn a_pin_is_64_lowercase_hex_characters() {
        assert!(pin(&"ab".repeat(32)).is_ok());
        for bad in ["XYZ".to_string(), "A".repeat(64), "ab".repeat(31)] {
            assert_eq!(
                pin(&bad).unwrap_err().to_string(),
                "pinned_cert_sha256: each pin must be 64 lowercase hex characters"
            );
        }
    }

    #[test]
    fn a_suspension_needs_a_reason_of_one_line() {
        assert_eq!(suspension_reason("  fusie ").unwrap(), "fusie");
        for bad in ["", "   ", &"x".repeat(257)] {
            assert_eq!(
                suspension_reason(bad).unwrap_err().to_string(),
                "reason: must be 1 to 256 characters"
            );
        }
    }
}
