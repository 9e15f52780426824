//! Statutory bases: which kinds of message each statute may carry, from
//! which kinds of organisation (configured, within what the law allows).

use crate::config::StatutesConfig;
use crate::model::{Kind, Participant, Statute};

/// A statute that does not cover a message, with the condition that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("legal_basis.statutory: {0}")]
pub struct NotCovered(pub String);

/// The statutory-basis policy.
#[derive(Debug, Clone)]
pub struct StatutePolicy {
    config: StatutesConfig,
}

impl StatutePolicy {
    /// The policy of `config`.
    pub fn new(config: StatutesConfig) -> Self {
        Self { config }
    }

    /// Checks that `statute` may carry a message of `kind` from `sender`.
    /// `dossier_from_po` says whether a dossier's profile starts in primary
    /// education (PO-VO or PO-PO).
    pub fn allows(
        &self,
        statute: Statute,
        kind: Kind,
        sender: &Participant,
        dossier_from_po: bool,
    ) -> Result<(), NotCovered> {
        let rule = match statute {
            Statute::OverdrachtPo => &self.config.overdracht_po,
            Statute::Verwijsindex => &self.config.verwijsindex,
            Statute::MeldrechtVeiligThuis => &self.config.meldrecht_veilig_thuis,
        };
        if !rule.kinds.contains(&kind) {
            let kinds = rule
                .kinds
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(NotCovered(format!(
                "{} covers {kinds} only, not a {kind}",
                statute.as_str()
            )));
        }
        if !rule.from.contains(&sender.kind) {
            return Err(NotCovered(format!(
                "{} is not a basis for a {} to send on",
                statute.as_str(),
                sender.kind
            )));
        }
        if statute == Statute::OverdrachtPo && !dossier_from_po {
            return Err(NotCovered(
                "overdracht_po covers a primary school's dossier only (profile po_vo or po_po)"
                    .into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::model::{Oin, OrgKind};

    fn p(kind: OrgKind) -> Participant {
        Participant::new(Oin::parse("00000099100000000001").unwrap(), "x", kind)
    }

    #[test]
    fn the_default_policy() {
        let policy = StatutePolicy::new(Config::default().statutes);
        let school = p(OrgKind::School);
        use Kind::*;
        use Statute::*;
        assert_eq!(
            policy.allows(OverdrachtPo, Overdrachtsdossier, &school, true),
            Ok(())
        );
        assert_eq!(
            policy.allows(Verwijsindex, Signalering, &school, false),
            Ok(())
        );
        assert_eq!(
            policy.allows(Verwijsindex, Signalering, &p(OrgKind::Jgt), false),
            Ok(())
        );
        assert_eq!(
            policy.allows(
                MeldrechtVeiligThuis,
                Consultatieverzoek,
                &p(OrgKind::Gemeente),
                false
            ),
            Ok(())
        );
        let refused = [
            (
                OverdrachtPo,
                Overdrachtsdossier,
                OrgKind::School,
                false,
                "legal_basis.statutory: overdracht_po covers a primary school's dossier only (profile po_vo or po_po)",
            ),
            (
                OverdrachtPo,
                Overdrachtsdossier,
                OrgKind::Swv,
                true,
                "overdracht_po is not a basis for a swv to send on",
            ),
            (
                OverdrachtPo,
                Signalering,
                OrgKind::School,
                true,
                "overdracht_po covers overdrachtsdossier only, not a signalering",
            ),
            (
                Verwijsindex,
                Consultatieverzoek,
                OrgKind::School,
                false,
                "verwijsindex covers signalering only, not a consultatieverzoek",
            ),
            (
                Verwijsindex,
                Signalering,
                OrgKind::Gemeente,
                false,
                "verwijsindex is not a basis for a gemeente to send on",
            ),
            (
                MeldrechtVeiligThuis,
                Overdrachtsdossier,
                OrgKind::School,
                false,
                "meldrecht_veilig_thuis covers signalering, consultatieverzoek only",
            ),
        ];
        for (statute, kind, from, po, text) in refused {
            let e = policy
                .allows(statute, kind, &p(from), po)
                .unwrap_err()
                .to_string();
            assert!(e.contains(text), "{e} should contain {text}");
        }
    }
}
