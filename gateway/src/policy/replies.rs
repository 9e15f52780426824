//! The basis of a reply. A request's basis covers the request's direction:
//! a consent the requester registered covers requester to replier, the
//! reporting right covers information *to* Veilig Thuis. A reply that only
//! gives its outcome (accepted, declined, needs consent) and a contact
//! holds nothing about the child beyond what the request said, and travels
//! under the request's basis; a reply that answers (text or attachments)
//! carries personal data back and needs a basis in its own direction,
//! replier to requester: a consent the replier registered, or a statute
//! that covers it. Veilig Thuis tells a reporter the outcome only.

use super::{Violation, invalid};
use crate::model::{LegalBasis, OrgKind, Statute};

/// What a reply travels under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyBasis {
    /// The request's basis; the words say why that suffices.
    OfRequest(&'static str),
    /// A basis of its own, to be checked as any named basis is.
    Own(LegalBasis),
}

/// Why a reply cannot travel as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyRefused {
    /// The request breaks a rule of the contract (INVALID_ARGUMENT).
    #[error(transparent)]
    Invalid(#[from] Violation),
    /// No basis covers its direction (FAILED_PRECONDITION); the text names
    /// the field and what to do.
    #[error("{0}")]
    Uncovered(String),
}

/// The request a reply answers, as far as its basis goes.
#[derive(Debug, Clone, Copy)]
pub struct Answered<'a> {
    /// The request's basis.
    pub basis: &'a LegalBasis,
    /// The kind of organisation that asked (the reply's recipient).
    pub requester: OrgKind,
    /// The kind of organisation that replies.
    pub replier: OrgKind,
}

/// The field whose content makes a reply carry personal data.
pub const ANSWER_FIELD: &str = "payload.consultatieantwoord.answer";

/// What a reply naming `named` (None: no basis) travels under, answering
/// `request`; `answers` is whether it carries an answer or attachments.
pub fn reply_basis(
    request: Answered<'_>,
    named: Option<&LegalBasis>,
    answers: bool,
) -> Result<ReplyBasis, ReplyRefused> {
    let anonymous = matches!(request.basis, LegalBasis::NoPersonalData);
    if let Some(own) = named.filter(|b| *b != request.basis) {
        if anonymous {
            return Err(invalid(
                "legal_basis",
                "a reply to an anonymous consultation holds no personal data and travels on no_personal_data; leave legal_basis empty",
            )
            .into());
        }
        return Ok(ReplyBasis::Own(own.clone()));
    }
    if anonymous {
        return Ok(ReplyBasis::OfRequest(
            "a reply to an anonymous consultation",
        ));
    }
    if !answers {
        return Ok(ReplyBasis::OfRequest(
            "the outcome only, which holds nothing about the child beyond the request",
        ));
    }
    let to_veilig_thuis = request.requester == OrgKind::VeiligThuis;
    match request.basis {
        LegalBasis::Statute(Statute::MeldrechtVeiligThuis) if to_veilig_thuis => {
            Ok(ReplyBasis::OfRequest(
                "information to Veilig Thuis on its request (Wmo 2015 art. 5.2.6)",
            ))
        }
        LegalBasis::Statute(Statute::MeldrechtVeiligThuis) => {
            Err(ReplyRefused::Uncovered(format!(
                "{ANSWER_FIELD}: Veilig Thuis tells a reporter the outcome only: the reporting right (Wmo 2015 art. 5.2.6) covers information to Veilig Thuis, not from it; leave answer and attachments empty, or name a consent of your own in legal_basis"
            )))
        }
        basis => Err(ReplyRefused::Uncovered(format!(
            "{ANSWER_FIELD}: an answer carries personal data from the {} back to the {}, which the request's basis ({basis}) does not cover: it covers the request's direction; name a basis of your own in legal_basis (a consent you registered that covers the {} and consultatieantwoord), or reply with the outcome only",
            request.replier, request.requester, request.requester
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ConsentId;

    fn consent(n: u8) -> LegalBasis {
        LegalBasis::Consent(
            ConsentId::parse(&format!("0190b2a4-7c3e-7a1b-9c2d-3e4f5a6b7c{n:02}")).unwrap(),
        )
    }

    fn asked(basis: &LegalBasis, requester: OrgKind, replier: OrgKind) -> Answered<'_> {
        Answered {
            basis,
            requester,
            replier,
        }
    }

    #[test]
    fn an_outcome_travels_under_the_request_and_an_answer_needs_its_own_basis() {
        let theirs = consent(1);
        let school_asks_jgt = asked(&theirs, OrgKind::Swv, OrgKind::Jgt);
        assert!(matches!(
            reply_basis(school_asks_jgt, None, false),
            Ok(ReplyBasis::OfRequest(_))
        ));
        assert!(matches!(
            reply_basis(school_asks_jgt, Some(&theirs), false),
            Ok(ReplyBasis::OfRequest(_))
        ));
        for named in [None, Some(&theirs)] {
            let Err(ReplyRefused::Uncovered(m)) = reply_basis(school_asks_jgt, named, true) else {
                panic!("an answer under the requester's consent");
            };
            assert!(m.starts_with(ANSWER_FIELD), "{m}");
            assert!(m.contains("from the jgt back to the swv"), "{m}");
        }
        let mine = consent(2);
        assert_eq!(
            reply_basis(school_asks_jgt, Some(&mine), true),
            Ok(ReplyBasis::Own(mine.clone()))
        );
    }

    #[test]
    fn veilig_thuis_is_answered_on_the_reporting_right_and_tells_a_reporter_the_outcome_only() {
        let meldrecht = LegalBasis::Statute(Statute::MeldrechtVeiligThuis);
        let vt_asks = asked(&meldrecht, OrgKind::VeiligThuis, OrgKind::School);
        assert!(matches!(
            reply_basis(vt_asks, None, true),
            Ok(ReplyBasis::OfRequest(_))
        ));
        let reporter_asks = asked(&meldrecht, OrgKind::School, OrgKind::VeiligThuis);
        assert!(matches!(
            reply_basis(reporter_asks, None, false),
            Ok(ReplyBasis::OfRequest(_))
        ));
        let Err(ReplyRefused::Uncovered(m)) = reply_basis(reporter_asks, None, true) else {
            panic!("Veilig Thuis's answer to a reporter");
        };
        assert!(m.contains("outcome only"), "{m}");
        assert!(matches!(
            reply_basis(reporter_asks, Some(&consent(3)), true),
            Ok(ReplyBasis::Own(_))
        ));
    }

    #[test]
    fn a_reply_to_an_anonymous_consultation_stays_anonymous() {
        let none = LegalBasis::NoPersonalData;
        let a = asked(&none, OrgKind::School, OrgKind::Jgt);
        assert!(matches!(
            reply_basis(a, None, true),
            Ok(ReplyBasis::OfRequest(_))
        ));
        assert!(matches!(
            reply_basis(a, Some(&consent(1)), true),
            Err(ReplyRefused::Invalid(Violation::Field { .. }))
        ));
    }
}
