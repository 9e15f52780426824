//! The audit log as operators see it (query, verify, export) and its upkeep
//! (checkpoints, retention). The chain itself is kept by the store; its
//! records are in [`crate::model`], its canonical encoding and verifier in
//! `schakel_proto::audit`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use schakel_proto::audit::Verdict;
use tokio::sync::mpsc;

use super::ServiceError;
use super::audit_chain::{Record, records_page, verify_chain};
use crate::clock::Clock;
use crate::config::{AuditConfig, LONGEST_SIGNAL_DAYS};
use crate::crypto::{ChildKey, ChildRef, GatewayKeys};
use crate::model::{Action, Checkpoint, Draft, Entry, MessageId, Oin, Range};
use crate::policy::fields;
use crate::store::{AuditKey, Store, StoreError};

/// Entries read from the store per page.
pub const PAGE: usize = 1000;

/// What an operator filters a query on; every filter given must match.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Entries at or after this time (Unix ms).
    pub from_ms: Option<i64>,
    /// Entries before this time (Unix ms).
    pub to_ms: Option<i64>,
    /// Entries where this OIN is actor or counterpart.
    pub org: Option<Oin>,
    /// Entries about this message.
    pub message_id: Option<MessageId>,
    /// Entries about this child (reference).
    pub child_ref: Option<ChildRef>,
    /// Only these actions (empty: all).
    pub actions: Vec<Action>,
}

impl Filter {
    /// Whether `e` matches.
    pub fn matches(&self, e: &Entry) -> bool {
        self.from_ms.is_none_or(|t| e.time_ms >= t)
            && self.to_ms.is_none_or(|t| e.time_ms < t)
            && self
                .org
                .as_ref()
                .is_none_or(|o| e.actor.oin() == Some(o) || e.counterpart == o.as_str())
            && self
                .message_id
                .as_ref()
                .is_none_or(|m| e.message_id.as_ref() == Some(m))
            && self.child_ref.is_none_or(|c| e.child_ref == Some(c))
            && (self.actions.is_empty() || self.actions.contains(&e.action))
    }
}

/// A read of the audit log by an operator, as it is recorded.
#[derive(Debug, Clone, Copy)]
pub enum Read<'a> {
    /// A query with this filter, after a sequence number, at most so many.
    Query(&'a Filter, u64, u64),
    /// A verification of a range (0: from the start, to the head).
    Verify(u64, u64),
    /// An export of a range (0: from the start, to the head).
    Export(u64, u64),
    /// An access report about a child, for this reason.
    Report(ChildRef, &'a str),
}

impl Read<'_> {
    /// The child it concerns, and the detail of its entry.
    fn describe(&self) -> (Option<ChildRef>, String) {
        let range = |from: u64, to: u64| match (from, to) {
            (0, 0) => "the whole log".to_owned(),
            (f, 0) => format!("entries {f} to the head"),
            (f, t) => format!("entries {f} to {t}"),
        };
        match *self {
            Read::Query(f, after, limit) => {
                let mut parts = Vec::new();
                if let Some(c) = f.child_ref {
                    parts.push(format!("child {c}"));
                }
                if let Some(o) = &f.org {
                    parts.push(format!("organisation {o}"));
                }
                if let Some(m) = &f.message_id {
                    parts.push(format!("message {m}"));
                }
                if !f.actions.is_empty() {
                    let names: Vec<_> = f.actions.iter().map(|a| format!("{a:?}")).collect();
                    parts.push(format!("actions {}", names.join(",")));
                }
                if let Some(t) = f.from_ms {
                    parts.push(format!("from {t}"));
                }
                if let Some(t) = f.to_ms {
                    parts.push(format!("before {t}"));
                }
                if after > 0 {
                    parts.push(format!("after entry {after}"));
                }
                if limit != u64::MAX {
                    parts.push(format!("at most {limit}"));
                }
                let filter = if parts.is_empty() {
                    "everything".to_owned()
                } else {
                    parts.join(", ")
                };
                (f.child_ref, format!("query: {filter}"))
            }
            Read::Verify(from, to) => (None, format!("verify: {}", range(from, to))),
            Read::Export(from, to) => (None, format!("export: {}", range(from, to))),
            Read::Report(c, reason) => (
                Some(c),
                format!("access report ({})", crate::model::withheld(reason)),
            ),
        }
    }
}

/// The audit log.
pub struct AuditLog {
    store: Arc<dyn Store>,
    key: Arc<GatewayKeys>,
    child_key: Arc<ChildKey>,
    config: AuditConfig,
    last_checkpoint_ms: AtomicI64,
    clock: Clock,
}

impl AuditLog {
    /// The log over `store`, whose checkpoints `key` signs.
    pub fn new(
        store: Arc<dyn Store>,
        key: Arc<GatewayKeys>,
        child_key: Arc<ChildKey>,
        config: AuditConfig,
        clock: Clock,
    ) -> Self {
        Self {
            store,
            key,
            child_key,
            config,
            last_checkpoint_ms: AtomicI64::new(clock.now_ms()),
            clock,
        }
    }

    /// Records that operator `reader` read the log as `read` says: who, when
    /// (the entry's time) and with which filter. A read about a child
    /// carries its reference, so that the child's own report shows it.
    pub async fn record_read(&self, reader: &Oin, read: Read<'_>) -> Result<(), ServiceError> {
        let (child_ref, detail) = read.describe();
        let draft = Draft {
            child_ref,
            ..Draft::new(reader.clone(), Action::AuditRead)
        }
        .detail(detail);
        self.store
            .append_audit(vec![draft], self.clock.now_ms())
            .await?;
        Ok(())
    }

    /// The store the log is kept in.
    pub(super) fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// The key that signs checkpoints, ranges and reports.
    pub(super) fn signer(&self) -> &dyn crate::crypto::Signer {
        self.key.as_ref()
    }

    /// Now, on the log's clock.
    pub(super) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The child reference of a BSN, for queries by child.
    pub fn child_ref(&self, bsn: &str) -> Result<ChildRef, ServiceError> {
        fields::bsn("child_bsn", bsn)?;
        Ok(self.child_key.child_ref(bsn))
    }

    /// The entries after `after` that match `filter`, at most `limit`, sent
    /// in order on the returned channel as they are read.
    pub fn query(
        self: &Arc<Self>,
        filter: Filter,
        after: u64,
        limit: u64,
    ) -> mpsc::Receiver<Result<Entry, ServiceError>> {
        let (tx, rx) = mpsc::channel(256);
        let log = self.clone();
        tokio::spawn(async move {
            let mut after = after;
            let mut sent = 0u64;
            loop {
                let (page, next) = match log.query_page(&filter, after).await {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = tx.send(Err(e.into())).await;
                        return;
                    }
                };
                for e in page {
                    if sent == limit || tx.send(Ok(e)).await.is_err() {
                        return;
                    }
                    sent += 1;
                }
                match next {
                    Some(n) => after = n,
                    None => return,
                }
            }
        });
        rx
    }

    /// The next page of entries after `after` that match `filter`, and the
    /// sequence number to continue after (None at the end of the log). A
    /// filter by child or by organisation reads through its index.
    async fn query_page(
        &self,
        filter: &Filter,
        after: u64,
    ) -> Result<(Vec<Entry>, Option<u64>), StoreError> {
        let after = after.max(self.store.audit_start().await? - 1);
        let index = match (&filter.child_ref, &filter.org) {
            (Some(c), _) => Some(AuditKey::Child(*c)),
            (None, Some(o)) => Some(AuditKey::Org(o.clone())),
            (None, None) => None,
        };
        let page = match index {
            Some(about) => {
                self.store
                    .audit_entries_about(&about, after, PAGE, self.clock.now_ms())
                    .await?
            }
            None => self.store.audit_entries(after + 1, PAGE).await?,
        };
        let next = (page.len() == PAGE)
            .then(|| page.last().map(|e| e.seq))
            .flatten();
        Ok((
            page.into_iter().filter(|e| filter.matches(e)).collect(),
            next,
        ))
    }

    /// Signs a checkpoint of the head now, if there are new entries.
    pub async fn checkpoint_now(&self) -> Result<Option<Checkpoint>, StoreError> {
        let now = self.clock.now_ms();
        let c = self.store.checkpoint(now).await?;
        if c.is_some() {
            self.last_checkpoint_ms.store(now, Ordering::Relaxed);
        }
        Ok(c)
    }

    /// The range an operator asked for, with 0 meaning "from the start" and
    /// "to the head". Signs a checkpoint of the head first, so that the whole
    /// range can be covered by a signature.
    pub async fn range(&self, from: u64, to: u64) -> Result<(u64, u64), ServiceError> {
        self.checkpoint_now().await?;
        let (head, _) = self.store.audit_head().await?;
        let start = self.store.audit_start().await?;
        Ok((from.max(start), if to == 0 { head } else { to.min(head) }))
    }

    /// The signed range `from..=to` (see [`AuditLog::range`]) that opens an
    /// export; None when it holds no entries.
    pub async fn signed_range(&self, from: u64, to: u64) -> Result<Option<Range>, ServiceError> {
        if from > to {
            return Ok(None);
        }
        let first = self.store.audit_entries(from, 1).await?;
        let last = self.store.audit_entries(to, 1).await?;
        Ok(match (first.first(), last.first()) {
            (Some(first), Some(last)) if first.seq == from && last.seq == to => Some(Range::sign(
                first,
                last,
                self.clock.now_ms(),
                self.key.as_ref(),
            )),
            _ => None,
        })
    }

    /// The records of `from..=to` (see [`AuditLog::range`]), in order, sent
    /// on the returned channel as they are read.
    pub fn export(
        self: &Arc<Self>,
        from: u64,
        to: u64,
    ) -> mpsc::Receiver<Result<Record, ServiceError>> {
        let (tx, rx) = mpsc::channel(256);
        let store = self.store.clone();
        tokio::spawn(async move {
            let mut after = from.saturating_sub(1);
            loop {
                let (records, last) = match records_page(store.as_ref(), after, to).await {
                    Ok(Some(page)) => page,
                    Ok(None) => return,
                    Err(e) => {
                        let _ = tx.send(Err(e.into())).await;
                        return;
                    }
                };
                for record in records {
                    if tx.send(Ok(record)).await.is_err() {
                        return;
                    }
                }
                after = last;
            }
        });
        rx
    }

    /// Signs the head, then recomputes the chain over `from..=to` and checks
    /// its checkpoints.
    pub async fn verify(&self, from: u64, to: u64) -> Result<Verdict, ServiceError> {
        let (from, to) = self.range(from, to).await?;
        Ok(verify_chain(self.store.as_ref(), &self.key.ring(), from, to).await?)
    }

    /// Upkeep, run periodically: a checkpoint when enough entries or time
    /// have passed; child references erased after their retention; entries
    /// of the first format (which cannot lose their reference alone)
    /// removed whole once no signal of theirs can still need it; and, if
    /// configured, entries removed whole after `keep_entries_days`.
    ///
    /// Every gateway, whether its turn or not, forgets the term keys of the
    /// days that are over ([`crate::crypto::TermKeys`]); the one whose turn
    /// it is records it.
    pub async fn maintain(&self) -> Result<(), StoreError> {
        let turn = self.store.upkeep_turn().await?;
        if turn {
            self.upkeep(self.clock.now_ms()).await?;
        }
        self.forget_terms(turn).await
    }

    /// Forgets the term keys of the days that are over, and with `record`
    /// says so in the log. Run at start too, before anything is swept: a
    /// gateway that was stopped over a day's end must not give an entry it
    /// makes about an old message a term of its own.
    pub async fn forget_terms(&self, record: bool) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        let today = crate::crypto::day_of(now);
        let forgotten = self.store.sealing().keys().forget_before(today)?;
        if forgotten > 0 {
            tracing::info!(
                days = forgotten,
                "term keys of the days that are over destroyed"
            );
            if record {
                self.store
                    .append_audit(vec![Draft::terms_forgotten(forgotten, today - 1)], now)
                    .await?;
            }
        }
        Ok(())
    }

    /// The upkeep of the deployment's audit log, by the one gateway whose
    /// turn it is.
    async fn upkeep(&self, now: i64) -> Result<(), StoreError> {
        let (head, signed) = self.store.audit_head().await?;
        let since = now - self.last_checkpoint_ms.load(Ordering::Relaxed);
        if head > signed
            && (head - signed >= self.config.checkpoint_every
                || since >= self.config.checkpoint_interval_secs as i64 * 1000)
        {
            self.checkpoint_now().await?;
        }
        let days = |d: u64| (d as i64).saturating_mul(86_400_000);
        let retention = days(self.config.retention_days);
        let erased = self
            .store
            .erase_child_refs(now - retention, PAGE, now)
            .await?;
        if erased > 0 {
            tracing::info!(erased, "child references erased after their retention");
        }
        let legacy = now - retention - days(LONGEST_SIGNAL_DAYS);
        self.prune(
            legacy,
            1,
            "audit entries of the first format removed after their retention",
        )
        .await?;
        if self.config.keep_entries_days > 0 {
            let cutoff = now - days(self.config.keep_entries_days);
            self.prune(
                cutoff,
                u32::MAX,
                "audit entries removed after audit.keep_entries_days",
            )
            .await?;
        }
        Ok(())
    }

    /// Removes the oldest entries made before `cutoff`, up to the first of a
    /// format above `up_to_format`, if there are any.
    async fn prune(&self, cutoff: i64, up_to_format: u32, what: &str) -> Result<(), StoreError> {
        let (head, _) = self.store.audit_head().await?;
        let start = self.store.audit_start().await?;
        let oldest = self.store.audit_entries(start, 1).await?;
        let due = oldest
            .first()
            .is_some_and(|e| e.time_ms < cutoff && e.seq < head && e.format <= up_to_format);
        if due {
            let removed = self.store.prune_audit(cutoff, up_to_format, PAGE).await?;
            tracing::info!(removed, "{what}");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Actor, Draft, GENESIS_HASH};

    #[test]
    fn a_filter_matches_every_criterion_given() {
        let org = Oin::parse("00000099100000000001").unwrap();
        let other = Oin::parse("00000099300000000001").unwrap();
        let id = MessageId::new_v7();
        let mut draft = Draft::new(Actor::Gateway, Action::Expired).counterpart(other.clone());
        draft.message_id = Some(id.clone());
        draft.child_ref = Some(ChildRef([1; 32]));
        let e = Entry::place(draft, 0, GENESIS_HASH, 1000);
        assert!(Filter::default().matches(&e));
        let yes = [
            Filter {
                from_ms: Some(1000),
                ..Filter::default()
            },
            Filter {
                to_ms: Some(1001),
                ..Filter::default()
            },
            Filter {
                org: Some(other.clone()),
                ..Filter::default()
            },
            Filter {
                message_id: Some(id),
                ..Filter::default()
            },
            Filter {
                child_ref: Some(ChildRef([1; 32])),
                ..Filter::default()
            },
            Filter {
                actions: vec![Action::Leased, Action::Expired],
                ..Filter::default()
            },
        ];
        for f in yes {
            assert!(f.matches(&e), "{f:?}");
        }
        let no = [
            Filter {
                from_ms: Some(1001),
                ..Filter::default()
            },
            Filter {
                to_ms: Some(1000),
                ..Filter::default()
            },
            Filter {
                org: Some(org),
                ..Filter::default()
            },
            Filter {
                message_id: Some(MessageId::new_v7()),
                ..Filter::default()
            },
            Filter {
                child_ref: Some(ChildRef([2; 32])),
                ..Filter::default()
            },
            Filter {
                actions: vec![Action::Leased],
                ..Filter::default()
            },
        ];
        for f in no {
            assert!(!f.matches(&e), "{f:?}");
        }
    }
}
