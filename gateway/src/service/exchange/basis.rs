//! The legal basis of a Send, checked: a consent must be in force, cover
//! the message and serve the purpose it names; a statute must cover sender,
//! recipient and kind, and its condition must hold; a message without
//! personal data must hold none. A reply that only gives its outcome
//! travels under the basis (and the terms) of the request it answers; one
//! that answers needs a basis in its own direction
//! ([`crate::policy::replies`]).

use super::Exchange;
use crate::crypto::ChildRef;
use crate::model::{
    CaseId, ConsentRecord, Kind, LegalBasis, MessageRecord, Oin, Participant, SignalRef, Statute,
    Terms,
};
use crate::policy::consent::InCase;
use crate::policy::replies::{Answered, ReplyBasis, ReplyRefused, reply_basis};
use crate::policy::send::{SendBasis, ValidSend};
use crate::policy::{consent, invalid};
use crate::service::ServiceError;

/// A checked basis: what the message travels under, what it binds it to,
/// and what the audit trail records of the condition that was met.
pub(super) struct Basis {
    /// The basis.
    pub legal_basis: LegalBasis,
    /// Its terms.
    pub terms: Terms,
    /// The condition met, in words.
    pub condition: String,
}

impl Exchange {
    /// The basis `valid` travels under from `sender` to `recipient`, about
    /// `child_ref`; `request` is the request a reply answers.
    pub(super) async fn check_basis(
        &self,
        parties: (&Participant, &Participant),
        valid: &ValidSend,
        child_ref: Option<&ChildRef>,
        request: Option<&MessageRecord>,
        now: i64,
    ) -> Result<Basis, ServiceError> {
        match valid.basis() {
            SendBasis::Named(basis) => {
                let about = (child_ref, valid.case_id());
                self.check_named(parties, valid, (basis, valid.terms()), about, now)
                    .await
            }
            SendBasis::OfRequest(named) => {
                self.check_reply(parties, valid, named.as_ref(), request, now)
                    .await
            }
            SendBasis::OfSignal => Self::check_signal(valid),
        }
    }

    /// A basis the message names, for the child `child_ref`, in the case
    /// `case` it continues (None: it starts one).
    async fn check_named(
        &self,
        (sender, recipient): (&Participant, &Participant),
        valid: &ValidSend,
        (named, terms): (&LegalBasis, Terms),
        (child_ref, case): (Option<&ChildRef>, Option<&CaseId>),
        now: i64,
    ) -> Result<Basis, ServiceError> {
        let refused = ServiceError::FailedPrecondition;
        let condition = match named {
            LegalBasis::Consent(id) => {
                let c = self.store.consent(id).await?.ok_or_else(|| {
                    refused(format!(
                        "legal_basis.consent_id: no consent {id} is registered"
                    ))
                })?;
                let what = (valid.kind(), terms.purpose);
                let in_case = self.in_case(&c, &sender.oin, case).await?;
                consent::covers(&c, (&sender.oin, in_case), recipient, what, child_ref, now)
                    .map_err(|m| refused(format!("legal_basis.consent_id: {m}")))?;
                if let (Some((birth, field)), Some(bsn)) = (valid.born(), valid.bsn()) {
                    let born = self.keys.child.birth_ref(bsn, birth);
                    consent::born_as_registered(&c, Some(&born), field)
                        .map_err(|m| refused(m.to_string()))?;
                }
                format!("under consent {id}")
            }
            LegalBasis::Statute(statute) => {
                let met = self
                    .statutes
                    .allows(*statute, valid.kind(), sender, recipient, valid.facts())
                    .map_err(|e| refused(e.to_string()))?;
                format!("on statutory basis {statute}, without consent: {met}")
            }
            LegalBasis::NoPersonalData => {
                if child_ref.is_some() {
                    return Err(invalid(
                        "legal_basis.no_personal_data",
                        "a message that names a child (a BSN) holds personal data: it needs a consent or a statutory basis",
                    )
                    .into());
                }
                "no personal data: an anonymous consultation".into()
            }
        };
        if child_ref.is_none() && !matches!(named, LegalBasis::NoPersonalData) {
            return Err(invalid(
                "legal_basis",
                "a consultatieverzoek that names no child holds no personal data: its basis is no_personal_data, which needs no consent",
            )
            .into());
        }
        Ok(Basis {
            legal_basis: named.clone(),
            terms,
            condition,
        })
    }

    /// What a meeting's consent `c` asks of a message from `sender` in
    /// `case`: whether the sender takes part in the consent's case.
    async fn in_case<'a>(
        &self,
        c: &ConsentRecord,
        sender: &Oin,
        case: Option<&'a CaseId>,
    ) -> Result<InCase<'a>, ServiceError> {
        let (sender_is_party, sender_was_party) = match (&c.case_id, case) {
            (Some(ours), Some(named)) if ours == named => {
                let record = self.store.case_record(named).await?;
                let was = record
                    .as_ref()
                    .is_some_and(|r| r.parties.iter().any(|p| p.oin == *sender));
                (self.takes_part(record.as_ref(), sender).await?, was)
            }
            _ => (false, false),
        };
        Ok(InCase {
            case,
            sender_is_party,
            sender_was_party,
        })
    }

    /// A response to the plan, or a decision on a request: it says
    /// something of the child back to the one that sent the plan or asked,
    /// so its basis covers that direction: the one it names, or the
    /// request's own (the meeting's consent, the statute of passend
    /// onderwijs), checked as if named.
    async fn check_own_direction(
        &self,
        parties: (&Participant, &Participant),
        valid: &ValidSend,
        named: Option<&LegalBasis>,
        request: &MessageRecord,
        now: i64,
    ) -> Result<Basis, ServiceError> {
        // Named, with the terms it names; else the request's, with its terms.
        let basis = match named {
            Some(own) => (own, valid.terms()),
            None => (&request.legal_basis, request.terms),
        };
        let about = (request.child_ref.as_ref(), Some(&request.case_id));
        let mut checked = self
            .check_named(parties, valid, basis, about, now)
            .await
            .map_err(|e| match e {
                ServiceError::FailedPrecondition(m) if named.is_none() => {
                    ServiceError::FailedPrecondition(format!(
                        "{m}; a {} travels under the basis of the {} it answers only where that covers its own direction: name a basis of your own in legal_basis",
                        valid.kind(),
                        request.kind
                    ))
                }
                other => other,
            })?;
        checked.condition = format!("a reply to a {}, {}", request.kind, checked.condition);
        Ok(checked)
    }

    /// A signal's change, or a match notice: on the Verwijsindex's statute.
    /// Whether the signals it names allow it is decided in the step that
    /// accepts it ([`crate::store::lifecycle::signals::decide`]), after a
    /// retry is told from a new message and with the signals as they are
    /// then; this gives the condition it travels under.
    fn check_signal(valid: &ValidSend) -> Result<Basis, ServiceError> {
        let condition = match valid.signal_ref() {
            Some(SignalRef::Change { signal, change }) => {
                format!("a change of its own signal {signal}: {}", change.describe())
            }
            Some(SignalRef::Match {
                signal,
                other,
                other_signaller,
            }) => format!(
                "a match of the Verwijsindex: signals {signal} and {other} (of {other_signaller}) are in force and about the same youth"
            ),
            None => {
                return Err(invalid(
                    "payload",
                    "only a signal_change or a match_notice travels on the basis of a signal",
                )
                .into());
            }
        };
        Ok(Basis {
            legal_basis: LegalBasis::Statute(Statute::Verwijsindex),
            terms: Terms::default(),
            condition: format!("on statutory basis verwijsindex (Jeugdwet ch. 7.1): {condition}"),
        })
    }

    /// A reply's basis: its request's, which must still hold, where the
    /// reply holds nothing about the child; else one of its own, for the
    /// request's child.
    async fn check_reply(
        &self,
        parties: (&Participant, &Participant),
        valid: &ValidSend,
        named: Option<&LegalBasis>,
        request: Option<&MessageRecord>,
        now: i64,
    ) -> Result<Basis, ServiceError> {
        // Routing let the reply through only with the request it answers.
        let Some(request) = request.filter(|r| Some(r.kind) == valid.kind().answers()) else {
            return Err(ServiceError::PermissionDenied(format!(
                "in_reply_to: a {} answers a {}",
                valid.kind(),
                valid.kind().answers().unwrap_or(valid.kind())
            )));
        };
        if request.kind != Kind::Consultatieverzoek {
            return self
                .check_own_direction(parties, valid, named, request, now)
                .await;
        }
        let (sender, recipient) = parties;
        let asked = Answered {
            basis: &request.legal_basis,
            requester: recipient.kind,
            replier: sender.kind,
        };
        let why = match reply_basis(asked, named, valid.answers()) {
            Ok(ReplyBasis::OfRequest(why)) => why,
            Ok(ReplyBasis::Own(own)) => {
                let about = (request.child_ref.as_ref(), Some(&request.case_id));
                let own = (&own, valid.terms());
                let mut basis = self.check_named(parties, valid, own, about, now).await?;
                basis.condition = format!("a reply with an answer, {}", basis.condition);
                return Ok(basis);
            }
            Err(ReplyRefused::Invalid(v)) => return Err(v.into()),
            Err(ReplyRefused::Uncovered(m)) => return Err(ServiceError::FailedPrecondition(m)),
        };
        if let LegalBasis::Consent(id) = &request.legal_basis
            && let Some(problem) = self
                .store
                .consent(id)
                .await?
                .as_ref()
                .and_then(|c| consent::unusable(c, now))
        {
            return Err(ServiceError::FailedPrecondition(format!(
                "legal_basis: the request's {problem}"
            )));
        }
        Ok(Basis {
            legal_basis: request.legal_basis.clone(),
            terms: request.terms,
            condition: format!(
                "a reply, on the basis of its request ({}): {why}",
                request.legal_basis
            ),
        })
    }
}
