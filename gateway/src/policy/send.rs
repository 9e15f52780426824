//! The rules of a Send request as a whole: the envelope fields, the payload
//! of its kind, the legal basis it names, its expiry and its size. A request
//! that passes becomes a [`ValidSend`], which nothing else can make: the
//! exchange works only with requests that passed every rule here.

use prost::Message as _;
use schakel_proto::v1 as pb;
use time::{Date, Duration};

use super::fields::{case_id, consent_id, message_id, oin, one_line};
use super::statutes::{Facts, Informing, ProfileStart};
use super::{Violation, case_payloads, consent::age_on, invalid, payloads, signals};
use crate::clock::start_of_day_ms;
use crate::config::LimitsConfig;
use crate::crypto::{Digest, PayloadKey, sha256};
use crate::model::{
    CaseId, Kind, LegalBasis, MessageId, Oin, SignalFacts, SignalRef, Statute, Terms, iso_date,
    wire,
};

/// Limits on expiry, from the exchange configuration.
#[derive(Debug, Clone, Copy)]
pub struct ExpiryRule {
    /// Expiry when the sender gives none.
    pub default: Duration,
    /// The latest expiry a sender may ask for.
    pub max: Duration,
}

/// The legal basis a valid request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendBasis {
    /// A consent or a statute, named by the sender.
    Named(LegalBasis),
    /// A reply travels under the basis of the request it answers; it may
    /// name that basis, and must then name the same one.
    OfRequest(Option<LegalBasis>),
    /// A signal's change and a match notice travel on the Verwijsindex's
    /// statute, under the conditions of the signals they name
    /// ([`super::signals`]).
    OfSignal,
}

/// A Send request that passed every content rule. Only [`check`] makes one.
#[derive(Debug)]
pub struct ValidSend {
    kind: Kind,
    recipient: Oin,
    client_reference: String,
    case_id: Option<CaseId>,
    case_reference: String,
    in_reply_to: Option<MessageId>,
    basis: SendBasis,
    terms: Terms,
    bsn: Option<String>,
    born: Option<(Date, &'static str)>,
    answers: bool,
    facts: Facts,
    expires_at_ms: i64,
    lapses_at_ms: Option<i64>,
    signal_facts: Option<SignalFacts>,
    signal_ref: Option<SignalRef>,
    plan_version: Option<u32>,
    payload: Vec<u8>,
    payload_digest: Digest,
    request_digest: Digest,
}

impl ValidSend {
    /// The kind, from the payload.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The recipient named.
    pub fn recipient(&self) -> &Oin {
        &self.recipient
    }

    /// The sender's reference (idempotency key).
    pub fn client_reference(&self) -> &str {
        &self.client_reference
    }

    /// The case the sender continues, if it names one.
    pub fn case_id(&self) -> Option<&CaseId> {
        self.case_id.as_ref()
    }

    /// The sender's own reference for the case.
    pub fn case_reference(&self) -> &str {
        &self.case_reference
    }

    /// What the named basis binds the message to: the consent's purpose,
    /// the declaration of necessity.
    pub fn terms(&self) -> Terms {
        self.terms
    }

    /// The request a reply answers (always set for a reply, never otherwise).
    pub fn in_reply_to(&self) -> Option<&MessageId> {
        self.in_reply_to.as_ref()
    }

    /// The legal basis named.
    pub fn basis(&self) -> &SendBasis {
        &self.basis
    }

    /// The child's BSN, if the message names one: used only to compute the
    /// child reference, never stored.
    pub fn bsn(&self) -> Option<&str> {
        self.bsn.as_deref()
    }

    /// The child's date of birth as the payload gives it, with the field
    /// that gives it: a signal's and a dossier's pupil's.
    pub fn born(&self) -> Option<(Date, &'static str)> {
        self.born
    }

    /// Whether a reply answers (text or attachments), and so carries
    /// personal data back to the requester.
    pub fn answers(&self) -> bool {
        self.answers
    }

    /// What a statute's condition looks at.
    pub fn facts(&self) -> &Facts {
        &self.facts
    }

    /// When the message expires (Unix ms): as asked, but a signal no later
    /// than it lapses.
    pub fn expires_at_ms(&self) -> i64 {
        self.expires_at_ms
    }

    /// For a signal: when it lapses, at the end (in the Netherlands) of its
    /// valid_until day.
    pub fn lapses_at_ms(&self) -> Option<i64> {
        self.lapses_at_ms
    }

    /// For a signal: what the gateway keeps to check its changes.
    pub fn signal_facts(&self) -> Option<SignalFacts> {
        self.signal_facts
    }

    /// For a signal's change or a match notice: the signals it names.
    pub fn signal_ref(&self) -> Option<&SignalRef> {
        self.signal_ref.as_ref()
    }

    /// For a version of a case's plan: the version it names.
    pub fn plan_version(&self) -> Option<u32> {
        self.plan_version
    }

    /// The digest of the payload as envelopes and receipts name it.
    pub fn payload_digest(&self) -> Digest {
        self.payload_digest
    }

    /// The digest of the request as sent: tells a retry from a conflicting
    /// reuse of the client reference.
    pub fn request_digest(&self) -> Digest {
        self.request_digest
    }

    /// The payload's length in bytes.
    pub fn payload_len(&self) -> usize {
        self.payload.len()
    }

    /// The payload's bytes as the sender sent them, with room to seal them
    /// in place.
    pub fn into_payload(self) -> Vec<u8> {
        self.payload
    }
}

fn legal_basis(basis: Option<&pb::LegalBasis>) -> Result<Option<LegalBasis>, Violation> {
    use pb::legal_basis::Basis;
    Ok(Some(match basis.and_then(|b| b.basis.as_ref()) {
        None => return Ok(None),
        Some(Basis::ConsentId(id)) => {
            LegalBasis::Consent(consent_id("legal_basis.consent_id", id)?)
        }
        Some(Basis::Statutory(s)) => {
            LegalBasis::Statute(wire::statute_of(*s).ok_or_else(|| {
                invalid(
                    "legal_basis.statutory",
                    "must be overdracht_po, verwijsindex, meldrecht_veilig_thuis or passend_onderwijs",
                )
            })?)
        }
        Some(Basis::NoPersonalData(_)) => LegalBasis::NoPersonalData,
    }))
}

/// The terms a basis binds a message to: a purpose only under a consent, a
/// declaration only on the reporting right.
fn terms(basis: Option<&pb::LegalBasis>, named: Option<&LegalBasis>) -> Result<Terms, Violation> {
    let Some(b) = basis else {
        return Ok(Terms::default());
    };
    let purpose = wire::purpose_of(b.purpose).map_err(|_| {
        invalid(
            "legal_basis.purpose",
            "must be one of support_at_school, youth_care, consultation, school_placement, care_coordination",
        )
    })?;
    if purpose.is_some() && !matches!(named, Some(LegalBasis::Consent(_))) {
        return Err(invalid(
            "legal_basis.purpose",
            "only a message under a consent names a purpose (the consent's own)",
        ));
    }
    if b.necessity_declared && named != Some(&LegalBasis::Statute(Statute::MeldrechtVeiligThuis)) {
        return Err(invalid(
            "legal_basis.necessity_declared",
            "is the declaration of the reporting right towards Veilig Thuis (meldrecht_veilig_thuis) only",
        ));
    }
    Ok(Terms {
        purpose,
        necessity_declared: b.necessity_declared,
    })
}

fn client_reference(r: &str) -> Result<(), Violation> {
    let ok = (1..=128).contains(&r.len()) && r.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "client_reference",
            "must be 1 to 128 printable ASCII characters without spaces",
        ))
    }
}

fn expiry(
    t: Option<&prost_types::Timestamp>,
    rule: ExpiryRule,
    now_ms: i64,
) -> Result<i64, Violation> {
    let Some(t) = t else {
        return Ok(now_ms + rule.default.whole_milliseconds() as i64);
    };
    let ms = wire::ms_of(t).ok_or_else(|| invalid("expires_at", "is not a valid timestamp"))?;
    if ms <= now_ms {
        return Err(invalid("expires_at", "must be in the future"));
    }
    if ms > now_ms + rule.max.whole_milliseconds() as i64 {
        return Err(invalid(
            "expires_at",
            format!("must be at most {} days ahead", rule.max.whole_days()),
        ));
    }
    Ok(ms)
}

/// The child's date of birth in a checked payload, and the field that
/// gives it.
fn born(body: Option<&pb::payload::Body>) -> Option<(Date, &'static str)> {
    use pb::payload::Body;
    match body? {
        Body::Signalering(s) => {
            iso_date::parse(&s.birth_date).map(|d| (d, "payload.signalering.birth_date"))
        }
        Body::Overdrachtsdossier(d) => d.pupil.as_ref().and_then(|p| {
            iso_date::parse(&p.birth_date)
                .map(|d| (d, "payload.overdrachtsdossier.pupil.birth_date"))
        }),
        Body::ArrangementRequest(r) => r.pupil.as_ref().and_then(|p| {
            iso_date::parse(&p.birth_date)
                .map(|d| (d, "payload.arrangement_request.pupil.birth_date"))
        }),
        _ => None,
    }
}

/// What the statutes' conditions look at in a checked payload.
fn facts(body: Option<&pb::payload::Body>, necessity_declared: bool, today: Date) -> Facts {
    use pb::payload::Body;
    let dossier_start = match body {
        Some(Body::Overdrachtsdossier(d)) => match pb::DossierProfile::try_from(d.profile) {
            Ok(pb::DossierProfile::PoVo | pb::DossierProfile::PoPo) => Some(ProfileStart::Primary),
            Ok(pb::DossierProfile::VoVo) => Some(ProfileStart::Secondary),
            _ => Some(ProfileStart::Swv),
        },
        _ => None,
    };
    let informing = match body {
        Some(Body::Signalering(s)) => iso_date::parse(&s.birth_date).map(|birth| Informing {
            age: age_on(birth, today),
            parents: s.parents_informed,
            youth: s.child_informed,
            postponed: !s.informing_postponed_reason.trim().is_empty(),
        }),
        _ => None,
    };
    Facts {
        dossier_start,
        informing,
        necessity_declared,
    }
}

/// Checks a Send request whose `sender_oin` the caller has already checked
/// and cleared. `today` and `now_ms` are the gateway's clock.
pub fn check(
    mut r: pb::SendRequest,
    limits: &LimitsConfig,
    expiry_rule: ExpiryRule,
    today: Date,
    now_ms: i64,
) -> Result<ValidSend, Violation> {
    let encoded_len = r.encoded_len() as u64;
    if encoded_len > limits.max_message_bytes {
        return Err(Violation::Limit(format!(
            "the message is {encoded_len} bytes; the limit is {} bytes",
            limits.max_message_bytes
        )));
    }
    client_reference(&r.client_reference)?;
    let recipient = oin("recipient_oin", &r.recipient_oin)?;
    let case_id = case_id("case_id", &r.case_id)?;
    one_line("case_reference", &r.case_reference, 0, 128)?;
    let named = legal_basis(r.legal_basis.as_ref())?;
    let terms = terms(r.legal_basis.as_ref(), named.as_ref())?;
    if r.payload.is_empty() {
        return Err(invalid(
            "payload",
            "is required: a serialized Payload message (payloads.proto)",
        ));
    }
    // The sender's bytes are kept and delivered as they are: the digest is
    // theirs, whatever protobuf library wrote them.
    let mut bytes = std::mem::take(&mut r.payload);
    let payload = schakel_proto::payload::decode(&bytes).map_err(|e| {
        invalid(
            "payload",
            format!("is not a serialized Payload message (payloads.proto): {e}"),
        )
    })?;
    use pb::payload::Body;
    let (mut signal_facts, mut signal_ref, mut plan_version) = (None, None, None);
    let (kind, bsn) = match payload.body.as_ref() {
        None => {
            return Err(invalid(
                "payload",
                "must hold one of signalering, overdrachtsdossier, consultatieverzoek, consultatieantwoord, signal_change, match_notice, case_plan, plan_response, case_meeting, arrangement_request, arrangement_decision",
            ));
        }
        Some(Body::Signalering(s)) => {
            payloads::signalering(s, today)?;
            // Both dates passed the content rules. The Verwijsindex keeps
            // what its loop checks; on another basis a postponement's
            // reason is all the law asks.
            if let (Some(birth), Some(until), true) = (
                iso_date::parse(&s.birth_date),
                iso_date::parse(&s.valid_until),
                named.as_ref() == Some(&LegalBasis::Statute(Statute::Verwijsindex)),
            ) {
                let inform_by = signals::postponement(s, until, today)?;
                signal_facts = Some(signals::facts_of(birth, inform_by));
            }
            (Kind::Signalering, Some(s.bsn.clone()))
        }
        Some(Body::SignalChange(c)) => {
            signal_ref = Some(signals::change(c, today)?);
            (Kind::Signalering, None)
        }
        Some(Body::MatchNotice(m)) => {
            signal_ref = Some(signals::match_notice(m)?);
            (Kind::Matchmelding, None)
        }
        Some(Body::Overdrachtsdossier(d)) => {
            payloads::overdrachtsdossier(d, today)?;
            (
                Kind::Overdrachtsdossier,
                d.pupil.as_ref().map(|p| p.bsn.clone()),
            )
        }
        Some(Body::Consultatieverzoek(c)) => {
            payloads::consultatieverzoek(c, today)?;
            (
                Kind::Consultatieverzoek,
                Some(c.bsn.clone()).filter(|b| !b.is_empty()),
            )
        }
        Some(Body::Consultatieantwoord(a)) => {
            payloads::consultatieantwoord(a)?;
            (Kind::Consultatieantwoord, None)
        }
        Some(Body::CasePlan(p)) => {
            case_payloads::case_plan(p)?;
            plan_version = Some(p.version);
            (Kind::Plan, Some(p.bsn.clone()))
        }
        Some(Body::PlanResponse(r)) => {
            case_payloads::plan_response(r)?;
            (Kind::Planreactie, None)
        }
        Some(Body::CaseMeeting(m)) => {
            case_payloads::case_meeting(m, today)?;
            (Kind::Overleg, Some(m.bsn.clone()))
        }
        Some(Body::ArrangementRequest(a)) => {
            case_payloads::arrangement_request(a)?;
            (Kind::Aanvraag, a.pupil.as_ref().map(|p| p.bsn.clone()))
        }
        Some(Body::ArrangementDecision(d)) => {
            case_payloads::arrangement_decision(d)?;
            (Kind::Besluit, None)
        }
        Some(Body::Notice(_)) => {
            return Err(invalid(
                "payload.notice",
                "notices come from the gateway only; send a signalering, overdrachtsdossier, consultatieverzoek or consultatieantwoord",
            ));
        }
    };
    payloads::attachments(kind, &payload.attachments, limits)?;
    if let Some(body) = payload.body.as_ref() {
        case_payloads::needs_document(body, &payload.attachments)?;
    }
    if kind.is_of_case() && case_id.is_none() {
        return Err(invalid(
            "case_id",
            format!(
                "a message of kind {kind} belongs to a case: name the case (case_id) whose parties it goes to"
            ),
        ));
    }
    if signal_ref.is_some()
        && named
            .as_ref()
            .is_some_and(|n| *n != LegalBasis::Statute(Statute::Verwijsindex))
    {
        return Err(invalid(
            "legal_basis",
            "a signal_change or match_notice travels on the verwijsindex statute: name it, or no basis",
        ));
    }
    let basis = match (kind, named) {
        (kind, named) if kind.answers().is_some() => SendBasis::OfRequest(named),
        _ if signal_ref.is_some() => SendBasis::OfSignal,
        (_, Some(named)) => SendBasis::Named(named),
        (_, None) => {
            return Err(invalid(
                "legal_basis",
                "is required: a consent id or a statutory basis",
            ));
        }
    };
    let facts = facts(payload.body.as_ref(), terms.necessity_declared, today);
    let born = born(payload.body.as_ref());
    let answers = match payload.body.as_ref() {
        Some(pb::payload::Body::Consultatieantwoord(a)) => {
            !a.answer.trim().is_empty() || !payload.attachments.is_empty()
        }
        // A response to the plan and a decision say something of the child.
        _ => kind.answers().is_some(),
    };
    let in_reply_to = if kind.answers().is_some() {
        Some(message_id("in_reply_to", &r.in_reply_to)?)
    } else if !r.in_reply_to.is_empty() {
        return Err(invalid(
            "in_reply_to",
            "only a reply (consultatieantwoord, planreactie, besluit) answers another message",
        ));
    } else {
        None
    };
    let lapses_at_ms = match payload.body.as_ref() {
        Some(Body::Signalering(s)) => iso_date::parse(&s.valid_until)
            .and_then(|d| d.next_day())
            .map(start_of_day_ms),
        _ => None,
    };
    // A signal's change is made when it is accepted: by default it waits
    // for the index as long as a message may.
    let expiry_rule = match signal_ref {
        Some(SignalRef::Change { .. }) => ExpiryRule {
            default: expiry_rule.max,
            ..expiry_rule
        },
        _ => expiry_rule,
    };
    let expires_at_ms = expiry(r.expires_at.as_ref(), expiry_rule, now_ms)?;
    let expires_at_ms = lapses_at_ms.map_or(expires_at_ms, |l| l.min(expires_at_ms));
    // What tells a retry from a conflicting reuse of the reference: the
    // request without its payload, and the payload's digest. The decoded
    // payload is dropped here, so a dossier does not sit in memory twice
    // while it is stored.
    drop(payload);
    let payload_digest = Digest(schakel_proto::payload::digest(&bytes));
    let request_digest = {
        let mut head = r.encode_to_vec();
        head.extend_from_slice(payload_digest.as_bytes());
        sha256(&head)
    };
    // Room for the encryption's tag and nonce, so sealing copies nothing.
    bytes.reserve_exact(PayloadKey::OVERHEAD);
    Ok(ValidSend {
        kind,
        recipient,
        client_reference: r.client_reference,
        case_id,
        case_reference: r.case_reference,
        in_reply_to,
        basis,
        terms,
        bsn,
        born,
        answers,
        facts,
        expires_at_ms,
        lapses_at_ms,
        signal_facts,
        signal_ref,
        plan_version,
        payload: bytes,
        payload_digest,
        request_digest,
    })
}

#[cfg(test)]
#[path = "send_tests.rs"]
mod tests;
