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
use tokio::sync::watch;

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
    /// Counts the changes, so that open streams re-check their caller's
    /// access at once when an entry changes.
    generation: Arc<watch::Sender<u64>>,
    /// One change at a time, so that the check that an active operator
    /// remains and the change it allows cannot interleave with another.
    changing: Arc<tokio::sync::Mutex<()>>,
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
        Self {
            store,
            clock,
            generation: Arc::new(watch::channel(0).0),
            changing: Arc::default(),
        }
    }

    /// Changes whenever an entry changes: whoever holds access decided on
    /// an entry waits on it to decide again.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    fn changed(&self) {
        self.generation.send_modify(|g| *g += 1);
    }

    /// Refuses a change that would leave `target` no longer an active
    /// operator when it is the last one.
    async fn keep_an_operator(&self, target: &Oin, stays: bool) -> Result<(), ServiceError> {
        if stays {
            return Ok(());
        }
        let all = self.store.participants().await?;
        let is_active_operator = |p: &Participant| p.is_operator() && p.is_active();
        if all
            .iter()
            .any(|p| &p.oin == target && is_active_operator(p))
            && !all
                .iter()
                .any(|p| &p.oin != target && is_active_operator(p))
        {
            return Err(ServiceError::FailedPrecondition(format!(
                "oin: {target} is the last active operator; add or reinstate another operator first, or nobody could manage the gateway any more"
            )));
        }
        Ok(())
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
        self.changed();
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
        self.changed();
        Ok(p)
    }

    /// Replaces name, kind, codes, sector and pins of an existing
    /// participant; its status stays as it is. An operator cannot change
    /// its own kind (it would give itself access to data about children, or
    /// lock itself out), and the last active operator stays one.
    pub async fn update(&self, actor: &Oin, p: Participant) -> Result<Participant, ServiceError> {
        policy::participant::check(&p)?;
        let oin = p.oin.clone();
        let _one_change = self.changing.lock().await;
        if &oin == actor && !p.is_operator() {
            return Err(ServiceError::FailedPrecondition(format!(
                "kind: an operator cannot change its own kind (to {}); ask another operator",
                p.kind
            )));
        }
        self.keep_an_operator(&oin, p.is_operator()).await?;
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
        let _one_change = self.changing.lock().await;
        self.keep_an_operator(oin, false).await?;
        self.change(
            actor,
            oin,
            format!("suspended ({})", crate::model::withheld(&reason)),
            move |cur| {
                cur.status = Status::Suspended;
                cur.suspended_reason = reason;
            },
        )
        .await
    }

    /// Lifts a suspension.
    pub async fn reinstate(&self, actor: &Oin, oin: &Oin) -> Result<Participant, ServiceError> {
        let _one_change = self.changing.lock().await;
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
        let changed = self
            .store
            .update_participant(oin, edit, self.clock.now_ms())
            .await?
            .ok_or_else(|| not_found(oin))?;
        self.changed();
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Codes;
    use crate::model::examples::{self, school};

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

    #[tokio::test]
    async fn the_last_active_operator_stays_one_and_changes_are_announced() {
        let dir = tempfile::tempdir().unwrap();
        let key = crate::crypto::SigningKey::load_or_create(dir.path()).unwrap();
        let store = crate::store::engine::open_in(
            dir.path(),
            1 << 20,
            Arc::new(key),
            crate::store::sealing::Sealing::for_tests(dir.path()),
        )
        .unwrap();
        let directory = Directory::new(store, Clock::system());
        let (a, b) = (examples::oin(1), examples::oin(2));
        let seed = [&a, &b].map(|o| Participant::new(o.clone(), "Beheer", OrgKind::Operator));
        directory.seed(seed.to_vec()).await.unwrap();
        let changes = directory.changes();
        // Two operators demote each other at once: the one that comes
        // second finds the other the last one and is refused.
        directory.suspend(&a, &b, "weg").await.unwrap();
        assert!(changes.has_changed().unwrap(), "a change is announced");
        let e = directory.suspend(&b, &a, "weg").await.unwrap_err();
        assert!(e.to_string().contains("is the last active operator"), "{e}");
        let mut jgt = Participant::new(a.clone(), "Beheer", OrgKind::Jgt);
        jgt.codes.agb = "12345678".into();
        let e = directory.update(&b, jgt.clone()).await.unwrap_err();
        assert!(e.to_string().contains("is the last active operator"), "{e}");
        let e = directory.update(&a, jgt).await.unwrap_err();
        assert!(e.to_string().contains("cannot change its own kind"), "{e}");
        let a_now = directory.get(&a).await.unwrap().unwrap();
        assert!(a_now.is_operator() && a_now.is_active());
        // With the other one back, either may go.
        directory.reinstate(&a, &b).await.unwrap();
        directory.suspend(&b, &a, "weg").await.unwrap();
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
