//! The statutes' configuration: what each statutory basis may carry here,
//! which is at most what the law lets it carry ([`Statute::law`]); a
//! configuration that widens a statute is refused when it is loaded.

use serde::{Deserialize, Serialize};

use crate::model::{Kind, OrgKind, Statute};

/// What one statutory basis may carry here: at most what the law lets it
/// carry ([`crate::model::Statute::law`]), which [`Config::validate`] checks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatuteConfig {
    /// Message kinds it covers.
    pub kinds: Vec<Kind>,
    /// Organisation kinds that may send on it.
    pub from: Vec<OrgKind>,
    /// Organisation kinds that may receive on it.
    pub to: Vec<OrgKind>,
}

impl StatutesConfig {
    /// The configuration of one statute.
    pub fn of(&self, statute: Statute) -> &StatuteConfig {
        match statute {
            Statute::OverdrachtPo => &self.overdracht_po,
            Statute::Verwijsindex => &self.verwijsindex,
            Statute::MeldrechtVeiligThuis => &self.meldrecht_veilig_thuis,
            Statute::PassendOnderwijs => &self.passend_onderwijs,
        }
    }

    /// Refuses a statute configured wider than the law allows.
    pub(super) fn check_within_the_law(&self) -> Result<(), String> {
        for statute in Statute::ALL {
            let (config, law) = (self.of(statute), statute.law());
            let name = statute.as_str();
            let beyond = |field: &str, what: String, allowed: String| {
                format!(
                    "statutes.{name}.{field}: {what} is beyond what {} allows ({allowed}); the configuration may narrow a statute, never widen it",
                    law.citation
                )
            };
            if let Some(k) = config.kinds.iter().find(|k| !law.kinds.contains(k)) {
                let allowed = law.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>();
                return Err(beyond("kinds", k.to_string(), allowed.join(", ")));
            }
            if let Some(k) = config.from.iter().find(|k| !law.from.contains(k)) {
                return Err(beyond("from", k.to_string(), OrgKind::names(law.from)));
            }
            if let Some(k) = config.to.iter().find(|k| !law.to.contains(k)) {
                return Err(beyond("to", k.to_string(), OrgKind::names(law.to)));
            }
        }
        Ok(())
    }
}

/// The statutory-basis policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatutesConfig {
    /// A primary school's transfer dossier.
    pub overdracht_po: StatuteConfig,
    /// A signal in the Verwijsindex.
    pub verwijsindex: StatuteConfig,
    /// The reporting right towards Veilig Thuis.
    pub meldrecht_veilig_thuis: StatuteConfig,
    /// A school board's request for an arrangement or a TLV, and the
    /// decision on it.
    pub passend_onderwijs: StatuteConfig,
}
