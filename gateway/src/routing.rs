//! The routing policy: which kind of organisation may send which kind of
//! message to which other kind. The defaults follow DESIGN.md and are set in
//! the configuration; the reply rule is fixed.
//!
//! A refusal is PERMISSION_DENIED and names the rule that refused.

use crate::config::{RouteConfig, RoutingConfig};
use crate::directory::{OrgKind, Participant};
use crate::message::{Kind, MessageRecord};

/// Why the policy refused a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("routing: {0}")]
pub struct RouteRefused(pub String);

/// The configured policy.
#[derive(Debug, Clone)]
pub struct Policy {
    config: RoutingConfig,
}

fn names(kinds: &[OrgKind]) -> String {
    kinds
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ")
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
            names(&rule.from),
            from.kind
        )));
    }
    if !rule.to.contains(&to.kind) {
        return Err(RouteRefused(format!(
            "a {kind} may be sent to {} only, not to a {}",
            names(&rule.to),
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
            Kind::Consultatieantwoord => {
                let request = request
                    .filter(|r| r.kind == Kind::Consultatieverzoek && r.recipient == from.oin);
                match request {
                    None => Err(RouteRefused(
                        "a consultatieantwoord must answer a consultatieverzoek that the sender received (in_reply_to)"
                            .into(),
                    )),
                    Some(r) if r.sender != to.oin => Err(RouteRefused(format!(
                        "a consultatieantwoord goes only to the sender of the request it answers ({})",
                        r.sender
                    ))),
                    Some(_) => Ok(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::directory::{Codes, Status};

    fn p(oin: &str, kind: OrgKind) -> Participant {
        Participant {
            oin: oin.into(),
            name: oin.into(),
            kind,
            codes: Codes::default(),
            status: Status::Active,
            suspended_reason: String::new(),
            pinned_cert_sha256: vec![],
            updated_at: 0,
        }
    }

    #[test]
    fn the_default_table_of_design_md() {
        let policy = Policy::new(Config::default().routing);
        let school = p("1", OrgKind::School);
        let school2 = p("2", OrgKind::School);
        let swv = p("3", OrgKind::Swv);
        let jgt = p("4", OrgKind::Jgt);
        let gemeente = p("5", OrgKind::Gemeente);
        let operator = p("6", OrgKind::Operator);
        assert!(policy.check(Kind::Signalering, &school, &jgt, None).is_ok());
        assert!(
            policy
                .check(Kind::Signalering, &school, &gemeente, None)
                .is_ok()
        );
        assert!(policy.check(Kind::Signalering, &jgt, &swv, None).is_ok());
        assert!(
            policy
                .check(Kind::Signalering, &school, &school2, None)
                .is_err()
        );
        assert!(
            policy
                .check(Kind::Signalering, &gemeente, &jgt, None)
                .is_err()
        );
        assert!(
            policy
                .check(Kind::Overdrachtsdossier, &school, &school2, None)
                .is_ok()
        );
        assert!(
            policy
                .check(Kind::Overdrachtsdossier, &school, &jgt, None)
                .is_err()
        );
        assert!(
            policy
                .check(Kind::Consultatieverzoek, &gemeente, &school, None)
                .is_ok()
        );
        assert!(
            policy
                .check(Kind::Consultatieverzoek, &operator, &school, None)
                .is_err()
        );
        assert!(
            policy
                .check(Kind::Consultatieverzoek, &school, &school, None)
                .is_err()
        );
        let e = policy
            .check(Kind::Signalering, &school, &school2, None)
            .unwrap_err();
        assert!(e.to_string().contains("not to a school"), "{e}");
    }
}
