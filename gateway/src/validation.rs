//! The content rules of a Send request: which fields each kind needs, what
//! they may hold, and how large a message may be.
//!
//! Every refusal names the field (with its path, e.g.
//! `payload.signalering.valid_until`) and the rule, and is checked before
//! anything is stored. Routing (who may send what to whom) lives in
//! `routing.rs`; consent in `consent.rs`.

use prost::Message as _;
use schakel_proto::v1 as pb;
use time::{Date, Duration, OffsetDateTime};
use tonic::Status;

use crate::bsn;
use crate::config::LimitsConfig;
use crate::message::{Kind, LegalBasis, Statute};

/// A refusal: INVALID_ARGUMENT naming field and rule, or RESOURCE_EXHAUSTED
/// naming the limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A field breaks a rule.
    #[error("{field}: {rule}")]
    Invalid {
        /// The field, with its path.
        field: String,
        /// The rule.
        rule: String,
    },
    /// A size limit is exceeded.
    #[error("{0}")]
    TooLarge(String),
}

impl From<Refusal> for Status {
    fn from(r: Refusal) -> Status {
        match r {
            Refusal::Invalid { .. } => Status::invalid_argument(r.to_string()),
            Refusal::TooLarge(_) => Status::resource_exhausted(r.to_string()),
        }
    }
}

fn invalid(field: impl Into<String>, rule: impl Into<String>) -> Refusal {
    Refusal::Invalid {
        field: field.into(),
        rule: rule.into(),
    }
}

/// What validation learned from a request.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The kind, from the payload.
    pub kind: Kind,
    /// The child's BSN, if the message names one. Used only to compute the
    /// child reference, never stored.
    pub bsn: Option<String>,
    /// The legal basis as given; None only for a reply, which travels under
    /// the basis of the request it answers.
    pub legal_basis: Option<LegalBasis>,
    /// For a dossier: whether its profile starts in primary education.
    pub dossier_from_po: bool,
    /// When the message expires (Unix ms).
    pub expires_at_ms: i64,
    /// The payload's protobuf encoding.
    pub payload: Vec<u8>,
}

/// Limits on expiry, from the exchange configuration.
#[derive(Debug, Clone, Copy)]
pub struct ExpiryRule {
    /// Expiry when the sender gives none.
    pub default: Duration,
    /// The latest expiry a sender may ask for.
    pub max: Duration,
}

const DATE_FORMAT: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// Parses an ISO date, "YYYY-MM-DD".
pub fn parse_date(field: &str, value: &str) -> Result<Date, Refusal> {
    Date::parse(value, DATE_FORMAT).map_err(|_| invalid(field, "must be a date written YYYY-MM-DD"))
}

fn required_date(field: &str, value: &str) -> Result<Date, Refusal> {
    if value.is_empty() {
        return Err(invalid(field, "is required"));
    }
    parse_date(field, value)
}

fn text(field: &str, value: &str, min: usize, max: usize) -> Result<(), Refusal> {
    let n = value.trim().chars().count();
    if n < min {
        return Err(invalid(field, "is required"));
    }
    if value.chars().count() > max {
        return Err(invalid(field, format!("must be at most {max} characters")));
    }
    Ok(())
}

fn one_line(field: &str, value: &str, min: usize, max: usize) -> Result<(), Refusal> {
    text(field, value, min, max)?;
    if value.chars().any(char::is_control) {
        return Err(invalid(
            field,
            "must be one line without control characters",
        ));
    }
    Ok(())
}

fn check_bsn(field: &str, value: &str) -> Result<(), Refusal> {
    if value.is_empty() {
        return Err(invalid(field, "is required"));
    }
    if !bsn::is_valid(value) {
        return Err(invalid(
            field,
            "must be a BSN of 9 digits that passes the elfproef",
        ));
    }
    Ok(())
}

fn check_oin(field: &str, value: &str) -> Result<(), Refusal> {
    if value.len() == 20 && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(invalid(field, "must be an OIN of exactly 20 digits"))
    }
}

/// Checks a UUID in its hyphenated text form.
pub fn check_uuid(field: &str, value: &str) -> Result<(), Refusal> {
    if value.is_empty() {
        return Err(invalid(field, "is required"));
    }
    uuid::Uuid::try_parse(value).map(|_| ()).map_err(|_| {
        invalid(
            field,
            "must be a UUID such as 0190b2a4-7c3e-7a1b-9c2d-3e4f5a6b7c8d",
        )
    })
}

fn contact(field: &str, c: Option<&pb::Contact>) -> Result<(), Refusal> {
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
    if !c.email.is_empty() {
        let parts: Vec<&str> = c.email.split('@').collect();
        let ok = parts.len() == 2
            && !parts[0].is_empty()
            && parts[1].contains('.')
            && !parts[1].starts_with('.')
            && !parts[1].ends_with('.')
            && c.email.len() <= 254
            && !c
                .email
                .chars()
                .any(|ch| ch.is_whitespace() || ch.is_control());
        if !ok {
            return Err(invalid(
                format!("{field}.email"),
                "must be an e-mail address",
            ));
        }
    }
    Ok(())
}

fn today() -> Date {
    OffsetDateTime::now_utc().date()
}

fn add_years(date: Date, years: i32) -> Date {
    // 29 February plus whole years lands on 28 February in a common year.
    Date::from_calendar_date(date.year() + years, date.month(), date.day())
        .or_else(|_| Date::from_calendar_date(date.year() + years, date.month(), 28))
        .expect("a valid date")
}

fn signalering(s: &pb::Signalering) -> Result<(), Refusal> {
    const F: &str = "payload.signalering";
    check_bsn(&format!("{F}.bsn"), &s.bsn)?;
    let birth = required_date(&format!("{F}.birth_date"), &s.birth_date)?;
    if birth > today() {
        return Err(invalid(
            format!("{F}.birth_date"),
            "must not be in the future",
        ));
    }
    contact(&format!("{F}.contact"), s.contact.as_ref())?;
    let signal = required_date(&format!("{F}.signal_date"), &s.signal_date)?;
    if signal > today() {
        return Err(invalid(
            format!("{F}.signal_date"),
            "must not be in the future",
        ));
    }
    if signal < birth {
        return Err(invalid(
            format!("{F}.signal_date"),
            "must not be before the child's birth",
        ));
    }
    let until = required_date(&format!("{F}.valid_until"), &s.valid_until)?;
    if until < signal {
        return Err(invalid(
            format!("{F}.valid_until"),
            "must not be before signal_date",
        ));
    }
    if until > add_years(signal, 2) {
        return Err(invalid(
            format!("{F}.valid_until"),
            "a signal is valid for at most 2 years after signal_date",
        ));
    }
    if until >= add_years(birth, 23) {
        return Err(invalid(
            format!("{F}.valid_until"),
            "a signal lapses before the child's 23rd birthday",
        ));
    }
    Ok(())
}

fn overdrachtsdossier(d: &pb::Overdrachtsdossier) -> Result<(), Refusal> {
    const F: &str = "payload.overdrachtsdossier";
    if pb::DossierProfile::try_from(d.profile).unwrap_or_default()
        == pb::DossierProfile::Unspecified
    {
        return Err(invalid(
            format!("{F}.profile"),
            "must be po_vo, po_po, vo_vo or swv_aanvraag",
        ));
    }
    let year_ok = d.school_year.split_once('-').is_some_and(|(a, b)| {
        a.len() == 4
            && b.len() == 4
            && a.parse::<u32>()
                .ok()
                .zip(b.parse::<u32>().ok())
                .is_some_and(|(a, b)| b == a + 1)
    });
    if !year_ok {
        return Err(invalid(
            format!("{F}.school_year"),
            "must be two consecutive years, e.g. 2026-2027",
        ));
    }
    let pupil = d
        .pupil
        .as_ref()
        .ok_or_else(|| invalid(format!("{F}.pupil"), "is required"))?;
    check_bsn(&format!("{F}.pupil.bsn"), &pupil.bsn)?;
    one_line(
        &format!("{F}.pupil.family_name"),
        &pupil.family_name,
        1,
        200,
    )?;
    one_line(
        &format!("{F}.pupil.given_names"),
        &pupil.given_names,
        0,
        200,
    )?;
    let birth = required_date(&format!("{F}.pupil.birth_date"), &pupil.birth_date)?;
    if birth > today() {
        return Err(invalid(
            format!("{F}.pupil.birth_date"),
            "must not be in the future",
        ));
    }
    for (i, h) in d.school_history.iter().enumerate() {
        let f = format!("{F}.school_history[{i}]");
        let b = h.brin.as_bytes();
        if !(b.len() == 4
            && b[..2].iter().all(u8::is_ascii_digit)
            && b[2..].iter().all(u8::is_ascii_uppercase))
        {
            return Err(invalid(
                format!("{f}.brin"),
                "must be 2 digits and 2 capital letters",
            ));
        }
        required_date(&format!("{f}.from_date"), &h.from_date)?;
        if !h.until_date.is_empty() {
            parse_date(&format!("{f}.until_date"), &h.until_date)?;
        }
    }
    if let Some(a) = &d.school_advice {
        one_line(&format!("{F}.school_advice.advice"), &a.advice, 1, 64)?;
        required_date(&format!("{F}.school_advice.date"), &a.date)?;
    }
    for (i, t) in d.test_results.iter().enumerate() {
        let f = format!("{F}.test_results[{i}]");
        one_line(&format!("{f}.test_code"), &t.test_code, 1, 64)?;
        one_line(&format!("{f}.score"), &t.score, 1, 64)?;
        required_date(&format!("{f}.date"), &t.date)?;
    }
    text(&format!("{F}.support_needs"), &d.support_needs, 0, 20_000)?;
    if !d.parents_viewed {
        return Err(invalid(
            format!("{F}.parents_viewed"),
            "the parents must have been shown the dossier (inzage) before it is sent",
        ));
    }
    text(&format!("{F}.parents_comment"), &d.parents_comment, 0, 4000)?;
    contact(&format!("{F}.contact"), d.contact.as_ref())
}

fn consultatieverzoek(c: &pb::Consultatieverzoek) -> Result<(), Refusal> {
    const F: &str = "payload.consultatieverzoek";
    if !c.bsn.is_empty() {
        check_bsn(&format!("{F}.bsn"), &c.bsn)?;
    }
    text(&format!("{F}.question"), &c.question, 1, 4000)?;
    if pb::Urgency::try_from(c.urgency).unwrap_or_default() == pb::Urgency::Unspecified {
        return Err(invalid(
            format!("{F}.urgency"),
            "must be routine, soon or urgent",
        ));
    }
    one_line(&format!("{F}.requested_role"), &c.requested_role, 0, 64)?;
    let by = required_date(&format!("{F}.respond_by"), &c.respond_by)?;
    if by < today() {
        return Err(invalid(
            format!("{F}.respond_by"),
            "must not be in the past",
        ));
    }
    contact(&format!("{F}.contact"), c.contact.as_ref())
}

fn consultatieantwoord(a: &pb::Consultatieantwoord) -> Result<(), Refusal> {
    const F: &str = "payload.consultatieantwoord";
    let outcome = pb::ReplyOutcome::try_from(a.outcome).unwrap_or_default();
    if outcome == pb::ReplyOutcome::Unspecified {
        return Err(invalid(
            format!("{F}.outcome"),
            "must be accepted, declined, answered or needs_consent",
        ));
    }
    let min = usize::from(outcome == pb::ReplyOutcome::Answered);
    text(&format!("{F}.answer"), &a.answer, min, 4000)?;
    if !a.proposed_coordinator_oin.is_empty() {
        check_oin(
            &format!("{F}.proposed_coordinator_oin"),
            &a.proposed_coordinator_oin,
        )?;
    }
    contact(&format!("{F}.contact"), a.contact.as_ref())
}

fn attachments(kind: Kind, list: &[pb::Attachment], limits: &LimitsConfig) -> Result<(), Refusal> {
    if kind == Kind::Signalering && !list.is_empty() {
        return Err(invalid(
            "payload.attachments",
            "a signalering carries no attachments: it says only that there is a concern and whom to contact",
        ));
    }
    if list.len() > limits.max_attachments as usize {
        return Err(Refusal::TooLarge(format!(
            "payload.attachments: {} attachments; the limit is {}",
            list.len(),
            limits.max_attachments
        )));
    }
    for (i, a) in list.iter().enumerate() {
        let f = format!("payload.attachments[{i}]");
        one_line(&format!("{f}.name"), &a.name, 1, 255)?;
        if a.name.contains(['/', '\\']) || a.name == "." || a.name == ".." {
            return Err(invalid(
                format!("{f}.name"),
                "must be a file name without a path",
            ));
        }
        let media_ok = a
            .media_type
            .split_once('/')
            .is_some_and(|(t, s)| !t.is_empty() && !s.is_empty())
            && !a.media_type.contains(char::is_whitespace);
        if !media_ok {
            return Err(invalid(
                format!("{f}.media_type"),
                "must be a media type such as application/pdf",
            ));
        }
        if a.sha256.len() != 32 {
            return Err(invalid(
                format!("{f}.sha256"),
                "must be the 32-byte SHA-256 of content",
            ));
        }
        if crate::crypto::sha256(&a.content).as_slice() != a.sha256.as_slice() {
            return Err(invalid(
                format!("{f}.sha256"),
                "does not match the SHA-256 of content",
            ));
        }
    }
    Ok(())
}

fn legal_basis(basis: Option<&pb::LegalBasis>) -> Result<Option<LegalBasis>, Refusal> {
    use pb::legal_basis::Basis;
    Ok(Some(match basis.and_then(|b| b.basis.as_ref()) {
        None => return Ok(None),
        Some(Basis::ConsentId(id)) => {
            check_uuid("legal_basis.consent_id", id)?;
            LegalBasis::Consent(id.clone())
        }
        Some(Basis::Statutory(s)) => match pb::StatutoryBasis::try_from(*s).unwrap_or_default() {
            pb::StatutoryBasis::OverdrachtPo => LegalBasis::Statute(Statute::OverdrachtPo),
            pb::StatutoryBasis::Verwijsindex => LegalBasis::Statute(Statute::Verwijsindex),
            pb::StatutoryBasis::MeldrechtVeiligThuis => {
                LegalBasis::Statute(Statute::MeldrechtVeiligThuis)
            }
            pb::StatutoryBasis::Unspecified => {
                return Err(invalid(
                    "legal_basis.statutory",
                    "must be overdracht_po, verwijsindex or meldrecht_veilig_thuis",
                ));
            }
        },
    }))
}

/// Checks a Send request. `now_ms` is the gateway's clock.
pub fn check_send(
    r: &pb::SendRequest,
    limits: &LimitsConfig,
    expiry: ExpiryRule,
    now_ms: i64,
) -> Result<Checked, Refusal> {
    let encoded_len = r.encoded_len() as u64;
    if encoded_len > limits.max_message_bytes {
        return Err(Refusal::TooLarge(format!(
            "the message is {encoded_len} bytes; the limit is {} bytes",
            limits.max_message_bytes
        )));
    }
    let reference_ok = (1..=128).contains(&r.client_reference.len())
        && r.client_reference
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b));
    if !reference_ok {
        return Err(invalid(
            "client_reference",
            "must be 1 to 128 printable ASCII characters without spaces",
        ));
    }
    check_oin("recipient_oin", &r.recipient_oin)?;
    one_line("case_id", &r.case_id, 0, 128)?;
    let legal_basis = legal_basis(r.legal_basis.as_ref())?;
    let payload = r
        .payload
        .as_ref()
        .ok_or_else(|| invalid("payload", "is required"))?;
    use pb::payload::Body;
    let (kind, bsn) = match payload.body.as_ref() {
        None => {
            return Err(invalid(
                "payload",
                "must hold one of signalering, overdrachtsdossier, consultatieverzoek, consultatieantwoord",
            ));
        }
        Some(Body::Signalering(s)) => {
            signalering(s)?;
            (Kind::Signalering, Some(s.bsn.clone()))
        }
        Some(Body::Overdrachtsdossier(d)) => {
            overdrachtsdossier(d)?;
            (
                Kind::Overdrachtsdossier,
                d.pupil.as_ref().map(|p| p.bsn.clone()),
            )
        }
        Some(Body::Consultatieverzoek(c)) => {
            consultatieverzoek(c)?;
            (
                Kind::Consultatieverzoek,
                Some(c.bsn.clone()).filter(|b| !b.is_empty()),
            )
        }
        Some(Body::Consultatieantwoord(a)) => {
            consultatieantwoord(a)?;
            (Kind::Consultatieantwoord, None)
        }
    };
    attachments(kind, &payload.attachments, limits)?;
    if legal_basis.is_none() && kind != Kind::Consultatieantwoord {
        return Err(invalid(
            "legal_basis",
            "is required: a consent id or a statutory basis",
        ));
    }
    let dossier_from_po = matches!(
        payload.body.as_ref(),
        Some(Body::Overdrachtsdossier(d)) if d.profile == pb::DossierProfile::PoVo as i32 || d.profile == pb::DossierProfile::PoPo as i32
    );
    if kind == Kind::Consultatieantwoord {
        check_uuid("in_reply_to", &r.in_reply_to)?;
    } else if !r.in_reply_to.is_empty() {
        return Err(invalid(
            "in_reply_to",
            "only a consultatieantwoord answers another message",
        ));
    }
    let expires_at_ms = match &r.expires_at {
        None => now_ms + expiry.default.whole_milliseconds() as i64,
        Some(t) => {
            let ms = t.seconds.saturating_mul(1000) + i64::from(t.nanos) / 1_000_000;
            if ms <= now_ms {
                return Err(invalid("expires_at", "must be in the future"));
            }
            if ms > now_ms + expiry.max.whole_milliseconds() as i64 {
                return Err(invalid(
                    "expires_at",
                    format!("must be at most {} days ahead", expiry.max.whole_days()),
                ));
            }
            ms
        }
    };
    Ok(Checked {
        kind,
        bsn,
        legal_basis,
        dossier_from_po,
        expires_at_ms,
        payload: {
            // Room for the encryption's tag and nonce, so sealing copies nothing.
            let mut buf =
                Vec::with_capacity(payload.encoded_len() + crate::crypto::PayloadKey::OVERHEAD);
            payload.encode(&mut buf).expect("a Vec grows as needed");
            buf
        },
    })
}
