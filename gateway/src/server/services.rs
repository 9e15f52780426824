//! The use cases the gateway serves, assembled over the opened store: the
//! directory (seeded from its file), the exchange, the consent registry
//! and the audit log, sharing one notifier and one refusal recorder.

use std::sync::Arc;

use anyhow::Context;

use super::open::Opened;
use crate::clock::Clock;
use crate::config::Config;
use crate::model::Participant;
use crate::service::audit_log::AuditLog;
use crate::service::consents::Consents;
use crate::service::directory::Directory;
use crate::service::exchange::Exchange;
use crate::service::notify::Notifier;
use crate::service::refusals::Refusals;
use crate::service::tree_heads::TreeHeads;

/// The use cases, assembled.
pub struct Services {
    /// Who takes part.
    pub directory: Directory,
    /// Send, pull, acknowledge, cases.
    pub exchange: Arc<Exchange>,
    /// Grant, revoke, list.
    pub consents: Arc<Consents>,
    /// Query, verify, export; checkpoints and retention.
    pub audit_log: Arc<AuditLog>,
    /// Every refusal of a known caller.
    pub refusals: Refusals,
    /// The audit log's signed tree heads and their proofs.
    pub tree_heads: TreeHeads,
    /// How many participants the seed file named, and how many were new.
    pub seeded: (usize, usize),
}

impl Services {
    /// Assembles the use cases of `config` over `opened`, on `clock`,
    /// seeding the directory with `seed`; forgets the term keys of the
    /// days that are over before anything is served.
    pub async fn assemble(
        config: &Config,
        clock: &Clock,
        opened: &Opened,
        seed: Vec<Participant>,
    ) -> anyhow::Result<Self> {
        let store = &opened.store;
        let directory = Directory::new(store.clone(), clock.clone());
        let in_file = seed.len();
        let added = directory.seed(seed).await?;
        let notifier = Arc::new(Notifier::default());
        let refusals = Refusals::new(store.clone(), clock.clone());
        let exchange = Arc::new(Exchange::new(
            store.clone(),
            directory.clone(),
            opened.keys.clone(),
            config,
            notifier.clone(),
            refusals.clone(),
            clock.clone(),
        ));
        let consents = Arc::new(Consents::new(
            store.clone(),
            opened.child_key.clone(),
            notifier,
            refusals.clone(),
            clock.clone(),
            config.consent.clone(),
        ));
        let audit_log = Arc::new(AuditLog::new(
            store.clone(),
            opened.signing_key.clone(),
            opened.child_key.clone(),
            config.audit.clone(),
            clock.clone(),
        ));
        audit_log
            .forget_terms(store.upkeep_turn().await?)
            .await
            .context("cannot forget the term keys of the days that are over")?;
        Ok(Self {
            directory,
            exchange,
            consents,
            audit_log,
            refusals,
            tree_heads: TreeHeads::new(store.clone()),
            seeded: (in_file, added),
        })
    }
}
