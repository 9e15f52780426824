//! The participant directory: who may use the gateway, as what kind of
//! organisation, and under which codes.
//!
//! The store is the source of truth. A TOML file seeds it at every start, but
//! only with participants the store does not know yet: once an operator has
//! changed or suspended a participant through the Admin service, a restart
//! with the original file does not undo that. Every change is durable, and
//! audited, before the call that made it returns.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::ServiceError;
use crate::clock::Clock;
use crate::model::{Action, Actor, Draft, Oin, OrgKind, Participant, Sector, Status};
use crate::policy;
use crate::store::Store;

/// The seed file: a list of `[[participant]]` tables.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedFile {
    #[serde(default)]
    participant: Vec<Participant>,
}

/// The seed file could not be read, or holds an invalid entry.
#[derive(Debug, thiserror::Error)]
#[error("directory file {path}: {message}")]
pub struct SeedFileError {
    /// The file.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// Reads and checks a seed file.
pub fn read_seed_file(path: &Path) -> Result<Vec<Participant>, SeedFileError> {
    let seed_err = |message: String| SeedFileError {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| seed_err(e.to_string()))?;
    let seed: SeedFile = toml::from_str(&text).map_err(|e| seed_err(e.to_string()))?;
    let mut seen = std::collections::HashSet::new();
    for p in &seed.participant {
        policy::participant::check(p)
            .map_err(|e| seed_err(format!("participant {}: {e}", p.oin)))?;
        if !seen.insert(p.oin.clone()) {
            return Err(seed_err(format!("participant {} is listed twice", p.oin)));
        }
    }
    Ok(seed.participant)
}

/// Renders participants as a seed file, for the example PKI.
pub fn write_seed_file(participants: &[Participant]) -> Result<String, toml::ser::Error> {
    toml::to_string(&SeedFile {
        participant: participants.to_vec(),
    })
}

/// A search in the directory: one criterion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// By OIN.
    Oin(Oin),
    /// By BRIN.
    Brin(String),
    /// By AGB code.
    Agb(String),
    /// By gemeentecode.
    Gemeentecode(String),
    /// By SWV number.
    SwvNumber(String),
    /// By kind.
    Kind(OrgKind),
}

impl Query {
    fn matches(&self, p: &Participant) -> bool {
        match self {
            Query::Oin(v) => &p.oin == v,
            Query::Brin(v) => &p.codes.brin == v,
            Query::Agb(v) => &p.codes.agb == v,
            Query::Gemeentecode(v) => &p.codes.gemeentecode == v,
            Query::SwvNumber(v) => &p.codes.swv_number == v,
            Query::Kind(k) => p.kind == *k,
        }
    }
}

/// The directory over the store.
#[derive(Clone)]
pub struct Directory {
    store: Arc<dyn Store>,
    clock: Clock,
}

/// The audit entry of a directory change.
fn change_entry(actor: impl Into<Actor>, p: &Participant, detail: String) -> Draft {
    Draft::new(actor, Action::DirectoryChanged)
        .counterpart(p.oin.clone())
        .detail(detail)
}

fn not_found(oin: &Oin) -> ServiceError {
    ServiceError::NotFound(format!("participant {oin} is not in the directory"))
}

impl Directory {
    /// A directory backed by `store`, dating its changes by `clock`.
    pub fn new(store: Arc<dyn Store>, clock: Clock) -> Self {
        Self { store, clock }
    }

    /// Adds the seed file's participants that the store does not know yet;
    /// returns how many were added. A school stored before the directory
    /// kept sectors takes its sector from the file (nothing an operator set
    /// is overwritten: there was no sector to set).
    pub async fn seed(&self, participants: Vec<Participant>) -> Result<usize, ServiceError> {
        let mut added = 0;
        for mut p in participants {
            p.updated_at = self.clock.now_secs();
            let draft = change_entry(Actor::Gateway, &p, "added from the directory file".into());
            if self
                .store
                .insert_participant(&p, draft, self.clock.now_ms())
                .await?
            {
                added += 1;
            } else if let Some(sector) = p.sector {
                self.adopt_sector(&p.oin, sector).await?;
            }
        }
        Ok(added)
    }

    /// Gives a stored school without a sector the sector `sector`.
    async fn adopt_sector(&self, oin: &Oin, sector: Sector) -> Result<(), ServiceError> {
        let stored = self.store.participant(oin).await?;
        if stored.is_none_or(|s| s.kind != OrgKind::School || s.sector.is_some()) {
            return Ok(());
        }
        let now_secs = self.clock.now_secs();
        let edit = Box::new(move |cur: &mut Participant| {
            cur.sector = Some(sector);
            cur.updated_at = now_secs;
            change_entry(
                Actor::Gateway,
                cur,
                format!("sector {sector} taken from the directory file"),
            )
        });
        self.store
            .update_participant(oin, edit, self.clock.now_ms())
            .await?;
        Ok(())
    }

    /// The participant with this OIN, if any.
    pub async fn get(&self, oin: &Oin) -> Result<Option<Participant>, ServiceError> {
        Ok(self.store.participant(oin).await?)
    }

    /// Every participant, ordered by OIN.
    pub async fn all(&self) -> Result<Vec<Participant>, ServiceError> {
        Ok(self.store.participants().await?)
    }

    /// Participants matching `query`, ordered by OIN.
    pub async fn lookup(&self, query: &Query) -> Result<Vec<Participant>, ServiceError> {
        if let Query::Oin(oin) = query {
            return Ok(self.get(oin).await?.into_iter().collect());
        }
        Ok(self
            .all()
            .await?
            .into_iter()
            .filter(|p| query.matches(p))
            .collect())
    }

    /// Adds a new participant; `actor` is the operator.
    pub async fn add(&self, actor: &Oin, mut p: Participant) -> Result<Participant, ServiceError> {
        policy::participant::check(&p)?;
        p.status = Status::Active;
        p.suspended_reason.clear();
        p.updated_at = self.clock.now_secs();
        let draft = change_entry(
            actor.clone(),
            &p,
            format!("added as {}: {}", p.kind, p.name),
        );
        if !self
            .store
            .insert_participant(&p, draft, self.clock.now_ms())
            .await?
        {
            return Err(ServiceError::AlreadyExists(format!(
                "participant {} already exists",
                p.oin
            )));
        }
        Ok(p)
    }

    /// Replaces name, kind, codes, sector and pins of an existing
    /// participant; its status stays as it is.
    pub async fn update(&self, actor: &Oin, p: Participant) -> Result<Participant, ServiceError> {
        policy::participant::check(&p)?;
        let oin = p.oin.clone();
        let detail = format!(
            "changed: {} ({}), {} pinned certificates",
            p.name,
            p.kind,
            p.pinned_cert_sha256.len()
        );
        self.change(actor, &oin, detail, move |cur| {
            cur.name = p.name;
            cur.kind = p.kind;
            cur.codes = p.codes;
            cur.sector = p.sector;
            cur.pinned_cert_sha256 = p.pinned_cert_sha256;
        })
        .await
    }

    /// Suspends a participant; it is refused from its next call on. An
    /// operator cannot suspend itself: the last operator would lock everyone
    /// out.
    pub async fn suspend(
        &self,
        actor: &Oin,
        oin: &Oin,
        reason: &str,
    ) -> Result<Participant, ServiceError> {
        if oin == actor {
            return Err(ServiceError::FailedPrecondition(
                "oin: an operator cannot suspend itself; ask another operator".into(),
            ));
        }
        let reason = policy::participant::suspension_reason(reason)?;
        self.change(actor, oin, format!("suspended: {reason}"), move |cur| {
            cur.status = Status::Suspended;
            cur.suspended_reason = reason;
        })
        .await
    }

    /// Lifts a suspension.
    pub async fn reinstate(&self, actor: &Oin, oin: &Oin) -> Result<Participant, ServiceError> {
        self.change(actor, oin, "reinstated".into(), |cur| {
            cur.status = Status::Active;
            cur.suspended_reason.clear();
        })
        .await
    }

    /// Applies `edit` to the stored entry in one step of the store, so that
    /// a concurrent change of the same participant is not lost.
    async fn change(
        &self,
        actor: &Oin,
        oin: &Oin,
        detail: String,
        edit: impl FnOnce(&mut Participant) + Send + 'static,
    ) -> Result<Participant, ServiceError> {
        let actor = actor.clone();
        let now_secs = self.clock.now_secs();
        let edit = Box::new(move |cur: &mut Participant| {
            edit(cur);
            cur.updated_at = now_secs;
            change_entry(actor, cur, detail)
        });
        self.store
            .update_participant(oin, edit, self.clock.now_ms())
            .await?
            .ok_or_else(|| not_found(oin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Codes;
    use crate::model::examples::school;

    #[test]
    fn the_seed_file_round_trips_and_refuses_duplicates_and_bad_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.toml");
        std::fs::write(&path, write_seed_file(&[school()]).unwrap()).unwrap();
        assert_eq!(read_seed_file(&path).unwrap(), vec![school()]);
        std::fs::write(&path, write_seed_file(&[school(), school()]).unwrap()).unwrap();
        let e = read_seed_file(&path).unwrap_err().to_string();
        assert!(e.contains("listed twice"), "{e}");
        let mut bad = school();
        bad.codes = Codes::default();
        std::fs::write(&path, write_seed_file(&[bad]).unwrap()).unwrap();
        let e = read_seed_file(&path).unwrap_err().to_string();
        assert!(e.contains("codes.brin: is required for a school"), "{e}");
        std::fs::write(
            &path,
            "[[participant]]\noin = \"123\"\nname = \"x\"\nkind = \"jgt\"\n",
        )
        .unwrap();
        let e = read_seed_file(&path).unwrap_err().to_string();
        assert!(e.contains("must be an OIN of exactly 20 digits"), "{e}");
        let e = read_seed_file(&dir.path().join("missing.toml")).unwrap_err();
        assert!(e.path.ends_with("missing.toml"));
    }

    #[test]
    fn a_query_matches_by_one_criterion() {
        let p = school();
        assert!(Query::Brin("99AA".into()).matches(&p));
        assert!(!Query::Brin("99AB".into()).matches(&p));
        assert!(Query::Kind(OrgKind::School).matches(&p));
        assert!(!Query::Agb("12345678".into()).matches(&p));
        assert!(Query::Oin(p.oin.clone()).matches(&p));
    }
}
