//! The command line's words for the contract's enums: `po_vo` for
//! `DOSSIER_PROFILE_PO_VO`, `delivered` for `RECEIPT_STATUS_DELIVERED`. One
//! parser serves every enum, and its error lists every valid word, so that a
//! person who typed a wrong one sees what to type instead. The same words
//! are printed by `--json` (docs/INTEGRATION.md, "The command line's JSON").

use schakel_client::proto as pb;

/// A protobuf enum the command line reads and writes as lowercase words.
pub trait Word: Sized + Copy + PartialEq + TryFrom<i32> {
    /// The prefix of every value's name, e.g. `DOSSIER_PROFILE_`.
    const PREFIX: &'static str;
    /// The value with this full name, as prost generates it.
    fn from_name(name: &str) -> Option<Self>;
    /// The value's full name.
    fn name(&self) -> &'static str;
}

macro_rules! word {
    ($($t:ty => $prefix:literal),* $(,)?) => {$(
        impl Word for $t {
            const PREFIX: &'static str = $prefix;
            fn from_name(name: &str) -> Option<Self> {
                <$t>::from_str_name(name)
            }
            fn name(&self) -> &'static str {
                self.as_str_name()
            }
        }
    )*};
}

word! {
    pb::DossierProfile => "DOSSIER_PROFILE_",
    pb::Urgency => "URGENCY_",
    pb::ReplyOutcome => "REPLY_OUTCOME_",
    pb::ConsentPurpose => "CONSENT_PURPOSE_",
    pb::ConsentGiver => "CONSENT_GIVER_",
    pb::ConsentConsenter => "CONSENT_CONSENTER_",
    pb::ConsentObtained => "CONSENT_OBTAINED_",
    pb::ConsentStatus => "CONSENT_STATUS_",
    pb::MessageKind => "MESSAGE_KIND_",
    pb::OrganisationKind => "ORGANISATION_KIND_",
    pb::SchoolSector => "SCHOOL_SECTOR_",
    pb::StatutoryBasis => "STATUTORY_BASIS_",
    pb::AuditAction => "AUDIT_ACTION_",
    pb::RejectReason => "REJECT_REASON_",
    pb::ReceiptStatus => "RECEIPT_STATUS_",
    pb::ParticipantStatus => "PARTICIPANT_STATUS_",
    pb::NoticeType => "NOTICE_TYPE_",
    pb::PostponementReason => "POSTPONEMENT_REASON_",
    pb::SignalChangeType => "SIGNAL_CHANGE_TYPE_",
    pb::PlanType => "PLAN_TYPE_",
    pb::PlanPosition => "PLAN_POSITION_",
    pb::MeetingPart => "MEETING_PART_",
    pb::ArrangementType => "ARRANGEMENT_TYPE_",
    pb::DecisionOutcome => "DECISION_OUTCOME_",
    pb::TlvCategory => "TLV_CATEGORY_",
}

/// The word for a value: its name without the prefix, in lowercase.
pub fn word<E: Word>(value: E) -> String {
    let name = value.name();
    name.strip_prefix(E::PREFIX)
        .unwrap_or(name)
        .to_ascii_lowercase()
}

/// The word for a value as it travels (an `i32`); a number the contract does
/// not know (from a newer gateway) is printed as that number.
pub fn word_of<E: Word>(value: i32) -> String {
    E::try_from(value).map_or_else(|_| value.to_string(), word)
}

/// Every word a person may type for `E`: all values but the unspecified one.
pub fn words<E: Word>() -> Vec<String> {
    (1..=64)
        .filter_map(|i| E::try_from(i).ok())
        .map(word)
        .collect()
}

/// "a, b or c".
pub fn listing(words: &[String]) -> String {
    match words {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The value a person typed for `field`; the error names the field, what was
/// typed and every valid word. The unspecified value is never accepted.
pub fn parse<E: Word>(field: &str, typed: &str) -> anyhow::Result<E> {
    E::from_name(&format!(
        "{}{}",
        E::PREFIX,
        typed.trim().to_ascii_uppercase()
    ))
    .filter(|v| E::try_from(0).map_or(true, |unspecified| *v != unspecified))
    .ok_or_else(|| {
        anyhow::anyhow!(
            "{field}: unknown value {typed:?}; use {}",
            listing(&words::<E>())
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_errors_list_every_valid_one() {
        assert_eq!(word(pb::DossierProfile::PoVo), "po_vo");
        assert_eq!(
            parse::<pb::DossierProfile>("profile", "PO_VO").unwrap(),
            pb::DossierProfile::PoVo
        );
        let e = parse::<pb::DossierProfile>("profile", "")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "profile: unknown value \"\"; use po_vo, po_po, vo_vo or swv_aanvraag"
        );
        let e = parse::<pb::Urgency>("urgency", "unspecified")
            .unwrap_err()
            .to_string();
        assert!(e.contains("use routine, soon or urgent"), "{e}");
        assert_eq!(word_of::<pb::MessageKind>(999), "999");
        assert_eq!(listing(&["a".into()]), "a");
    }
}
