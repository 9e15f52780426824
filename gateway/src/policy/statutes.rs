//! Statutory bases: a statute covers a sender, a recipient and a kind of
//! message together, under a condition. What the law allows is the table in
//! [`Statute::law`]; the configuration narrows it at most (checked when it
//! is loaded); the conditions are checked here, message by message.

use crate::config::StatutesConfig;
use crate::model::{Kind, OrgKind, Participant, Sector, Statute};

/// A statute that does not cover a message; the text names the statute,
/// where it is written and the rule that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("legal_basis.statutory: {0}")]
pub struct NotCovered(pub String);

/// Where a dossier's profile starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileStart {
    /// In primary education (po_vo, po_po).
    Primary,
    /// In secondary education (vo_vo).
    Secondary,
    /// An application to the samenwerkingsverband (swv_aanvraag).
    Swv,
}

/// How the family was told of a signal, and how old the youth is today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Informing {
    /// The youth's age in full years today.
    pub age: i32,
    /// The parents were informed.
    pub parents: bool,
    /// The youth was informed.
    pub youth: bool,
    /// A reason for postponing it was given.
    pub postponed: bool,
}

/// What the statutes' conditions look at in a message, besides who sends
/// it to whom: taken from the checked request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Facts {
    /// For a dossier: where its profile starts.
    pub dossier_start: Option<ProfileStart>,
    /// For a signal: how the family was informed.
    pub informing: Option<Informing>,
    /// The sender declared the information necessary to end, or
    /// investigate a reasonable suspicion of, domestic violence or child
    /// abuse.
    pub necessity_declared: bool,
}

/// The statutory-basis policy.
#[derive(Debug, Clone)]
pub struct StatutePolicy {
    config: StatutesConfig,
}

impl StatutePolicy {
    /// The policy of `config` (already checked to be within the law).
    pub fn new(config: StatutesConfig) -> Self {
        Self { config }
    }

    /// Checks that `statute` carries a message of `kind` from `sender` to
    /// `recipient` with `facts`. Returns what the audit trail records of the
    /// condition that was met.
    pub fn allows(
        &self,
        statute: Statute,
        kind: Kind,
        sender: &Participant,
        recipient: &Participant,
        facts: &Facts,
    ) -> Result<String, NotCovered> {
        let rule = self.config.of(statute);
        let refuse = |why: String| Err(NotCovered(format!("{statute}: {why}")));
        if !rule.kinds.contains(&kind) {
            let kinds = rule.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>();
            return refuse(format!("covers {} only, not a {kind}", kinds.join(", ")));
        }
        if !rule.from.contains(&sender.kind) {
            return refuse(format!(
                "may be sent on by {} only, not by a {}",
                OrgKind::names(&rule.from),
                sender.kind
            ));
        }
        if !rule.to.contains(&recipient.kind) {
            return refuse(format!(
                "covers messages to {} only; the recipient {} is a {}",
                OrgKind::names(&rule.to),
                recipient.oin,
                recipient.kind
            ));
        }
        match statute {
            Statute::OverdrachtPo => onderwijskundig_rapport(sender, facts),
            Statute::Verwijsindex => verwijsindex(facts),
            Statute::MeldrechtVeiligThuis => meldrecht(kind, sender, recipient, facts),
            Statute::PassendOnderwijs => passend_onderwijs(kind, sender, recipient),
        }
        .or_else(refuse)
    }
}

/// WPO art. 42 and WEC art. 43: primary and special education's dossier.
fn onderwijskundig_rapport(sender: &Participant, facts: &Facts) -> Result<String, String> {
    let Some(sector) = sender.sector else {
        return Err(format!(
            "the directory does not know the sector of school {}; the operator sets it (po, sbo, so, vso or vo)",
            sender.oin
        ));
    };
    if sector == Sector::Vo {
        return Err(
            "the sending school is of sector vo; the onderwijskundig rapport is for schools of sector po, sbo, so or vso"
                .into(),
        );
    }
    match facts.dossier_start {
        Some(ProfileStart::Primary) => {}
        Some(ProfileStart::Secondary) if sector == Sector::Vso => {}
        _ => {
            return Err(
                "covers a dossier whose profile starts in primary or special education only (po_vo or po_po; vo_vo from a vso school)"
                    .into(),
            );
        }
    }
    Ok(format!(
        "from a school of sector {sector}; the parents have seen the dossier"
    ))
}

/// WPO art. 18a, WVO art. 17a, WEC art. 40: a school asks its
/// samenwerkingsverband, which decides. That the OPP is attached and was
/// discussed with the parents is a content rule of the request
/// ([`super::case_payloads`]); that the decision answers the request and
/// goes to the school that asked is the reply rule of routing.
fn passend_onderwijs(
    kind: Kind,
    sender: &Participant,
    recipient: &Participant,
) -> Result<String, String> {
    match (kind, sender.kind, recipient.kind) {
        (Kind::Aanvraag, OrgKind::School, OrgKind::Swv) => Ok(
            "a school board's request to the samenwerkingsverband, with the OPP discussed with the parents".into(),
        ),
        (Kind::Besluit, OrgKind::Swv, OrgKind::School) => Ok(
            "the samenwerkingsverband's decision to the school that asked".into(),
        ),
        (Kind::Aanvraag, ..) => Err("covers a request from a school to a samenwerkingsverband only".into()),
        _ => Err("covers the samenwerkingsverband's decision to a school only".into()),
    }
}

/// Jeugdwet ch. 7.1: the family is informed of a registration.
fn verwijsindex(facts: &Facts) -> Result<String, String> {
    let Some(i) = facts.informing else {
        return Err("covers a signalering only".into());
    };
    if i.postponed {
        return Ok("informing the family was postponed, with the reason given".into());
    }
    informed(i).map_err(|m| {
        format!("{m}, or the reason for postponing it given (informing_postponed_reason)")
    })
}

/// Jeugdwet ch. 7.1: who must be told of a signal, at the youth's age:
/// the parents while the youth is under 16, the youth from 12. Also what a
/// signaller's informing after a postponement must meet.
pub fn informed(i: Informing) -> Result<String, String> {
    if i.age < 16 && !i.parents {
        return Err(format!(
            "the youth is {}: the parents must be informed (parents_informed)",
            i.age
        ));
    }
    if i.age >= 12 && !i.youth {
        return Err(format!(
            "the youth is {}: the youth must be informed (child_informed)",
            i.age
        ));
    }
    Ok(match (i.parents, i.youth) {
        (true, true) => "the parents and the youth were informed",
        (true, false) => "the parents were informed",
        _ => "the youth was informed",
    }
    .into())
}

/// Wmo 2015 art. 5.2.6: to Veilig Thuis, or its own request for information.
fn meldrecht(
    kind: Kind,
    sender: &Participant,
    recipient: &Participant,
    facts: &Facts,
) -> Result<String, String> {
    let to_veilig_thuis = recipient.kind == OrgKind::VeiligThuis;
    let direction = match (to_veilig_thuis, sender.kind == OrgKind::VeiligThuis) {
        (true, false) if kind != Kind::Consultatieantwoord => "a report to Veilig Thuis",
        (false, true) if kind == Kind::Consultatieverzoek => {
            "Veilig Thuis's request for information"
        }
        _ => {
            return Err(format!(
                "covers a signal or a question to Veilig Thuis, and Veilig Thuis's own request for information, only; not a {kind} from a {} to a {}",
                sender.kind, recipient.kind
            ));
        }
    };
    if !facts.necessity_declared {
        return Err(
            "the sender must declare that the information is necessary to end, or to investigate a reasonable suspicion of, domestic violence or child abuse (legal_basis.necessity_declared)"
                .into(),
        );
    }
    Ok(format!(
        "{direction}; the sender declared the information necessary to end or investigate domestic violence or child abuse"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::model::examples;

    fn p(n: u8, kind: OrgKind) -> Participant {
        let mut p = Participant::new(examples::oin(n), format!("org {n}"), kind);
        if kind == OrgKind::School {
            p.sector = Some(Sector::Po);
        }
        p
    }

    fn school(n: u8, sector: Option<Sector>) -> Participant {
        Participant {
            sector,
            ..p(n, OrgKind::School)
        }
    }

    fn policy() -> StatutePolicy {
        StatutePolicy::new(Config::default().statutes)
    }

    const PRIMARY: Facts = Facts {
        dossier_start: Some(ProfileStart::Primary),
        informing: None,
        necessity_declared: false,
    };

    fn informed(age: i32, parents: bool, youth: bool, postponed: bool) -> Facts {
        Facts {
            informing: Some(Informing {
                age,
                parents,
                youth,
                postponed,
            }),
            ..Facts::default()
        }
    }

    const DECLARED: Facts = Facts {
        dossier_start: None,
        informing: None,
        necessity_declared: true,
    };

    fn refused(
        statute: Statute,
        kind: Kind,
        from: &Participant,
        to: &Participant,
        f: Facts,
    ) -> String {
        policy()
            .allows(statute, kind, from, to, &f)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn the_onderwijskundig_rapport_goes_from_primary_or_special_schools_to_a_school() {
        use Kind::Overdrachtsdossier as D;
        use Statute::OverdrachtPo as S;
        let to = school(2, Some(Sector::Vo));
        for sector in [Sector::Po, Sector::Sbo, Sector::So, Sector::Vso] {
            let met = policy().allows(S, D, &school(1, Some(sector)), &to, &PRIMARY);
            assert!(
                met.is_ok_and(|m| m.contains("parents have seen")),
                "{sector}"
            );
        }
        let vso_secondary = Facts {
            dossier_start: Some(ProfileStart::Secondary),
            ..PRIMARY
        };
        assert!(
            policy()
                .allows(S, D, &school(1, Some(Sector::Vso)), &to, &vso_secondary)
                .is_ok()
        );
        let cases = [
            (
                school(1, Some(Sector::Vo)),
                to.clone(),
                PRIMARY,
                "legal_basis.statutory: overdracht_po (WPO art. 42; WEC art. 43): the sending school is of sector vo",
            ),
            (
                school(1, None),
                to.clone(),
                PRIMARY,
                "the directory does not know the sector of school 00000000000000000001",
            ),
            (
                school(1, Some(Sector::Po)),
                to.clone(),
                vso_secondary,
                "starts in primary or special education only",
            ),
            (
                school(1, Some(Sector::Po)),
                p(3, OrgKind::Swv),
                PRIMARY,
                "covers messages to school only; the recipient 00000000000000000003 is a swv",
            ),
            (
                p(3, OrgKind::Swv),
                to.clone(),
                PRIMARY,
                "may be sent on by school only, not by a swv",
            ),
        ];
        for (from, to, facts, text) in cases {
            let e = refused(S, D, &from, &to, facts);
            assert!(e.contains(text), "{e} should contain {text}");
        }
        let e = refused(
            S,
            Kind::Signalering,
            &school(1, Some(Sector::Po)),
            &to,
            PRIMARY,
        );
        assert!(
            e.contains("covers overdrachtsdossier only, not a signalering"),
            "{e}"
        );
    }

    #[test]
    fn a_verwijsindex_signal_goes_to_the_verwijsindex_with_the_family_informed() {
        use Kind::Signalering as K;
        use Statute::Verwijsindex as S;
        let index = p(9, OrgKind::Verwijsindex);
        for from in [
            OrgKind::School,
            OrgKind::Swv,
            OrgKind::Jgt,
            OrgKind::Gemeente,
        ] {
            let met = policy().allows(S, K, &p(1, from), &index, &informed(10, true, false, false));
            assert_eq!(met.as_deref(), Ok("the parents were informed"), "{from}");
        }
        let school = p(1, OrgKind::School);
        let allowed = [
            (
                informed(13, true, true, false),
                "the parents and the youth were informed",
            ),
            (informed(17, false, true, false), "the youth was informed"),
            (
                informed(13, false, false, true),
                "informing the family was postponed",
            ),
        ];
        for (facts, met) in allowed {
            assert!(
                policy()
                    .allows(S, K, &school, &index, &facts)
                    .unwrap()
                    .contains(met)
            );
        }
        let cases = [
            (
                informed(10, false, false, false),
                "the youth is 10: the parents must be informed",
            ),
            (
                informed(15, true, false, false),
                "the youth is 15: the youth must be informed",
            ),
            (
                informed(12, false, true, false),
                "the youth is 12: the parents must be informed",
            ),
        ];
        for (facts, text) in cases {
            let e = refused(S, K, &school, &index, facts);
            assert!(e.contains(text), "{e} should contain {text}");
        }
        for to in [OrgKind::Jgt, OrgKind::Gemeente, OrgKind::Swv] {
            let e = refused(S, K, &school, &p(4, to), informed(10, true, false, false));
            assert!(
                e.contains("verwijsindex (Jeugdwet ch. 7.1): covers messages to verwijsindex only"),
                "{e}"
            );
        }
    }

    #[test]
    fn the_reporting_right_reaches_veilig_thuis_only() {
        use Statute::MeldrechtVeiligThuis as S;
        let vt = p(7, OrgKind::VeiligThuis);
        let school = p(1, OrgKind::School);
        let jgt = p(3, OrgKind::Jgt);
        let gemeente = p(4, OrgKind::Gemeente);
        for (kind, from, to) in [
            (Kind::Signalering, &school, &vt),
            (Kind::Consultatieverzoek, &gemeente, &vt),
            (Kind::Consultatieverzoek, &vt, &school),
        ] {
            let met = policy().allows(S, kind, from, to, &DECLARED).unwrap();
            assert!(met.contains("declared the information necessary"), "{met}");
        }
        // The gemeente-to-JGT question passes the statute's kinds of
        // recipient (Veilig Thuis's requests go to a JGT) but not its
        // direction.
        let e = refused(S, Kind::Consultatieverzoek, &gemeente, &jgt, DECLARED);
        assert!(
            e.contains("meldrecht_veilig_thuis (Wmo 2015 art. 5.2.6): covers a signal or a question to Veilig Thuis"),
            "{e}"
        );
        let cases = [
            (
                Kind::Signalering,
                &vt,
                &school,
                DECLARED,
                "not a signalering from a veilig_thuis to a school",
            ),
            (
                Kind::Signalering,
                &school,
                &vt,
                Facts::default(),
                "the sender must declare that the information is necessary",
            ),
            (
                Kind::Consultatieverzoek,
                &vt,
                &p(9, OrgKind::Verwijsindex),
                DECLARED,
                "the recipient 00000000000000000009 is a verwijsindex",
            ),
        ];
        for (kind, from, to, facts, text) in cases {
            let e = refused(S, kind, from, to, facts);
            assert!(e.contains(text), "{e} should contain {text}");
        }
    }

    #[test]
    fn passend_onderwijs_carries_a_schools_request_to_the_swv_and_the_decision_back() {
        use Statute::PassendOnderwijs as S;
        let (school, swv) = (school(1, Some(Sector::Po)), p(3, OrgKind::Swv));
        let f = Facts::default();
        assert!(
            policy()
                .allows(S, Kind::Aanvraag, &school, &swv, &f)
                .is_ok()
        );
        assert!(policy().allows(S, Kind::Besluit, &swv, &school, &f).is_ok());
        let e = refused(S, Kind::Aanvraag, &swv, &school, f);
        assert!(
            e.contains("a request from a school to a samenwerkingsverband only"),
            "{e}"
        );
        let e = refused(S, Kind::Besluit, &school, &swv, f);
        assert!(e.contains("decision to a school only"), "{e}");
        let e = refused(S, Kind::Consultatieverzoek, &school, &swv, f);
        assert!(e.contains("covers aanvraag, besluit only"), "{e}");
        let e = refused(S, Kind::Aanvraag, &school, &p(4, OrgKind::Jgt), f);
        assert!(e.contains("covers messages to swv, school only"), "{e}");
    }
}
