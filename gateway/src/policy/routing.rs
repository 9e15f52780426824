//! The routing policy: which kind of organisation may send which kind of
//! message to which other kind. The defaults (docs/DOMAIN.md) are set in the
//! configuration; the reply rule is fixed.
//!
//! A refusal is PERMISSION_DENIED and names the rule that refused.

use crate::config::{RouteConfig, RoutingConfig};
use crate::model::{Kind, MessageRecord, OrgKind, Participant};

/// Why the policy refused a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("routing: {0}")]
pub struct RouteRefused(pub String);

/// The configured policy.
#[derive(Debug, Clone)]
pub struct Policy {
    config: RoutingConfig,
}

fn check_route(
    kind: Kind,
    rule: &RouteConfig,
    from: &Participant,
    to: &Participant,
) -> Result<(), RouteRefused> {
    if !rule.from.contains(&from.kind) {
        return Err(RouteRefused(format!(
            "a {kind} may be sent by {} only, not by a {}",
            OrgKind::names(&rule.from),
            from.kind
        )));
    }
    if !rule.to.contains(&to.kind) {
        return Err(RouteRefused(format!(
            "a {kind} may be sent to {} only, not to a {}",
            OrgKind::names(&rule.to),
            to.kind
        )));
    }
    Ok(())
}

impl Policy {
    /// The policy of `config`.
    pub fn new(config: RoutingConfig) -> Self {
        Self { config }
    }

    /// Checks a message of `kind` from `from` to `to`. For a reply,
    /// `request` is the consultatieverzoek it answers, if the sender received
    /// one with that id.
    pub fn check(
        &self,
        kind: Kind,
        from: &Participant,
        to: &Participant,
        request: Option<&MessageRecord>,
    ) -> Result<(), RouteRefused> {
        if from.oin == to.oin {
            return Err(RouteRefused(
                "a participant cannot send a message to itself".into(),
            ));
        }
        match kind {
            Kind::Signalering => check_route(kind, &self.config.signalering, from, to),
            Kind::Overdrachtsdossier => {
                check_route(kind, &self.config.overdrachtsdossier, from, to)
            }
            Kind::Consultatieverzoek => {
                check_route(kind, &self.config.consultatieverzoek, from, to)
            }
            Kind::Consultatieantwoord | Kind::Planreactie | Kind::Besluit => {
                reply(kind, from, to, request)
            }
            // The case's parties decide its recipients (the exchange checks
            // that each is a party); organisations that exchange about
            // children send them.
            Kind::Plan | Kind::Overleg => {
                match [from, to]
                    .into_iter()
                    .find(|p| !OrgKind::PROFESSIONAL.contains(&p.kind))
                {
                    Some(p) => Err(RouteRefused(format!(
                        "a {kind} is between the parties of a case, and a {} takes no part in one",
                        p.kind
                    ))),
                    None => Ok(()),
                }
            }
            // On its statute only: from a school to a samenwerkingsverband.
            Kind::Aanvraag if from.kind == OrgKind::School && to.kind == OrgKind::Swv => Ok(()),
            Kind::Aanvraag => Err(RouteRefused(format!(
                "an aanvraag goes from a school to its samenwerkingsverband (swv), not from a {} to a {}",
                from.kind, to.kind
            ))),
            Kind::Notice => Err(RouteRefused("notices come from the gateway only".into())),
            // The signals it names decide its recipient (policy::signals).
            Kind::Matchmelding if from.kind == OrgKind::Verwijsindex => Ok(()),
            Kind::Matchmelding => Err(RouteRefused(format!(
                "a matchmelding is sent by the Verwijsindex only, not by a {}",
                from.kind
            ))),
        }
    }
}

/// A reply of `kind` answers a message of the kind it answers that `from`
/// received (`request`), and goes to that message's sender only.
fn reply(
    kind: Kind,
    from: &Participant,
    to: &Participant,
    request: Option<&MessageRecord>,
) -> Result<(), RouteRefused> {
    let answered = kind.answers().unwrap_or(kind);
    match request.filter(|r| r.kind == answered && r.recipient == from.oin) {
        None => Err(RouteRefused(format!(
            "a {kind} must answer a request of kind {answered} that the sender received (in_reply_to)"
        ))),
        Some(r) if r.sender != to.oin => Err(RouteRefused(format!(
            "a {kind} goes only to the sender of the request it answers ({})",
            r.sender
        ))),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::model::examples;
    use crate::model::{LegalBasis, MessageHead, Statute};

    fn p(n: u8, kind: OrgKind) -> Participant {
        Participant::new(examples::oin(n), format!("org {n}"), kind)
    }

    fn request(from: &Participant, to: &Participant, kind: Kind) -> MessageRecord {
        let basis = LegalBasis::Statute(Statute::Verwijsindex);
        MessageRecord::new(MessageHead {
            kind,
            ..examples::head(from.oin.clone(), to.oin.clone(), basis)
        })
    }

    #[test]
    fn the_default_table() {
        let policy = Policy::new(Config::default().routing);
        let school = p(1, OrgKind::School);
        let school2 = p(2, OrgKind::School);
        let swv = p(3, OrgKind::Swv);
        let jgt = p(4, OrgKind::Jgt);
        let gemeente = p(5, OrgKind::Gemeente);
        let operator = p(6, OrgKind::Operator);
        let vt = p(7, OrgKind::VeiligThuis);
        let index = p(8, OrgKind::Verwijsindex);
        use Kind::*;
        let allowed = [
            (Signalering, &school, &jgt),
            (Signalering, &school, &gemeente),
            (Signalering, &school, &swv),
            (Signalering, &jgt, &swv),
            (Signalering, &swv, &jgt),
            (Signalering, &gemeente, &jgt),
            (Signalering, &school, &index),
            (Signalering, &jgt, &vt),
            (Consultatieverzoek, &vt, &school),
            (Consultatieverzoek, &gemeente, &vt),
            (Overdrachtsdossier, &school, &school2),
            (Overdrachtsdossier, &school, &swv),
            (Overdrachtsdossier, &swv, &school),
            (Consultatieverzoek, &gemeente, &school),
            (Consultatieverzoek, &school, &jgt),
            (Consultatieverzoek, &jgt, &gemeente),
        ];
        for (kind, from, to) in allowed {
            assert_eq!(
                policy.check(kind, from, to, None),
                Ok(()),
                "{kind} {} -> {}",
                from.kind,
                to.kind
            );
        }
        let refused = [
            (
                Signalering,
                &school,
                &school2,
                "routing: a signalering may be sent to jgt, gemeente, swv, verwijsindex, veilig_thuis only, not to a school",
            ),
            (
                Signalering,
                &index,
                &jgt,
                "routing: a signalering may be sent by school, swv, jgt, gemeente only, not by a verwijsindex",
            ),
            (Consultatieverzoek, &school, &index, "not to a verwijsindex"),
            (
                Overdrachtsdossier,
                &school,
                &jgt,
                "may be sent to school, swv only, not to a jgt",
            ),
            (
                Overdrachtsdossier,
                &jgt,
                &school,
                "may be sent by school, swv only, not by a jgt",
            ),
            (Consultatieverzoek, &operator, &school, "not by a operator"),
            (Consultatieverzoek, &school, &operator, "not to a operator"),
            (
                Consultatieverzoek,
                &school,
                &school,
                "a participant cannot send a message to itself",
            ),
        ];
        for (kind, from, to, text) in refused {
            let e = policy.check(kind, from, to, None).unwrap_err().to_string();
            assert!(e.contains(text), "{e} should contain {text}");
        }
    }

    #[test]
    fn a_reply_answers_a_request_the_replier_received_and_goes_to_its_sender() {
        let policy = Policy::new(Config::default().routing);
        let swv = p(3, OrgKind::Swv);
        let jgt = p(4, OrgKind::Jgt);
        let gemeente = p(5, OrgKind::Gemeente);
        let school = p(1, OrgKind::School);
        let req = request(&swv, &jgt, Kind::Consultatieverzoek);
        let reply = Kind::Consultatieantwoord;
        assert_eq!(policy.check(reply, &jgt, &swv, Some(&req)), Ok(()));
        let e = policy.check(reply, &jgt, &school, Some(&req)).unwrap_err();
        assert!(
            e.0.contains("goes only to the sender of the request it answers"),
            "{e}"
        );
        let e = policy
            .check(reply, &gemeente, &swv, Some(&req))
            .unwrap_err();
        assert!(e.0.contains("that the sender received"), "{e}");
        let e = policy.check(reply, &jgt, &swv, None).unwrap_err();
        assert!(e.0.contains("that the sender received"), "{e}");
        // Only a consultatieverzoek is answered.
        let signal = request(&swv, &jgt, Kind::Signalering);
        assert!(policy.check(reply, &jgt, &swv, Some(&signal)).is_err());
    }

    #[test]
    fn each_reply_answers_its_own_kind_and_the_case_and_tlv_kinds_go_their_way() {
        let policy = Policy::new(Config::default().routing);
        let (school, swv, jgt) = (
            p(1, OrgKind::School),
            p(3, OrgKind::Swv),
            p(4, OrgKind::Jgt),
        );
        let (operator, index) = (p(6, OrgKind::Operator), p(8, OrgKind::Verwijsindex));
        let plan = request(&swv, &jgt, Kind::Plan);
        let asked = request(&school, &swv, Kind::Aanvraag);
        assert_eq!(
            policy.check(Kind::Planreactie, &jgt, &swv, Some(&plan)),
            Ok(())
        );
        assert_eq!(
            policy.check(Kind::Besluit, &swv, &school, Some(&asked)),
            Ok(())
        );
        // A decision does not answer a plan, nor a plan response a request.
        assert!(
            policy
                .check(Kind::Besluit, &jgt, &swv, Some(&plan))
                .is_err()
        );
        assert!(
            policy
                .check(Kind::Planreactie, &swv, &school, Some(&asked))
                .is_err()
        );
        // Plan and meeting between organisations that work with children.
        for kind in [Kind::Plan, Kind::Overleg] {
            assert_eq!(policy.check(kind, &swv, &jgt, None), Ok(()));
            assert!(policy.check(kind, &swv, &index, None).is_err());
            assert!(policy.check(kind, &operator, &jgt, None).is_err());
        }
        // A request from a school to a samenwerkingsverband only.
        assert_eq!(policy.check(Kind::Aanvraag, &school, &swv, None), Ok(()));
        let e = policy.check(Kind::Aanvraag, &jgt, &swv, None).unwrap_err();
        assert!(
            e.0.contains("from a school to its samenwerkingsverband"),
            "{e}"
        );
        assert!(policy.check(Kind::Aanvraag, &school, &jgt, None).is_err());
    }
}
