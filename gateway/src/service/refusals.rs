//! Refusals, decided and audited in one place.
//!
//! Every use case that refuses a caller for a reason other than bad input
//! (a rule of Send, a permission) records it here, at the point where it
//! decides, and gets back the error to answer. The transport does the same
//! for the refusals it decides (an unknown OIN, a suspended participant, a
//! certificate that is not pinned). Nothing re-reads statuses afterwards.
//!
//! A refused Send is one audit entry of its own, naming the message's
//! counterpart, for the first [`SENDS_AUDITED_PER_INTERVAL`] of a
//! participant in an interval; beyond them its refused sends are counted
//! like every other refusal, so that a participant refused at its rate
//! limit adds a bounded number of entries a minute, not megabytes a second.
//! Every other refusal costs the refused, not the gateway: it is counted in memory per
//! certificate and [`Cause`], and [`Refusals::flush`] writes one entry per
//! certificate and cause with the count, at the end of each interval
//! (`[audit] refusal_interval_secs`) and when the gateway stops. A crash
//! loses at most one interval's counts. Nothing the caller chose is kept
//! beyond a sanitised, length-capped call name.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::{Caller, ServiceError};
use crate::clock::Clock;
use crate::crypto::Digest;
use crate::metrics::METRICS;
use crate::model::{Action, Actor, Draft, Oin};
use crate::store::Store;

/// Why a caller was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cause {
    /// A Send broke a rule: content, routing, legal basis, a limit.
    SendRule,
    /// An operators-only service was called by someone else.
    NotOperator,
    /// The operator tried to register a consent.
    OperatorConsent,
    /// A consent was revoked by an organisation other than its registrant.
    NotRegistrant,
    /// The participant is suspended.
    Suspended,
    /// The certificate is not one pinned for the OIN.
    NotPinned,
    /// The certificate's OIN is not in the directory.
    UnknownOin,
    /// The certificate carries no usable OIN.
    NoOin,
    /// A right of a case's coordinator was used by another organisation.
    NotCoordinator,
}

impl Cause {
    /// The metric label of the cause.
    fn label(self) -> crate::metrics::Labels {
        let name = match self {
            Cause::SendRule => "send_rule",
            Cause::NotOperator => "not_operator",
            Cause::OperatorConsent => "operator_consent",
            Cause::NotRegistrant => "not_registrant",
            Cause::Suspended => "suspended",
            Cause::NotPinned => "not_pinned",
            Cause::UnknownOin => "unknown_oin",
            Cause::NoOin => "no_oin",
            Cause::NotCoordinator => "not_coordinator",
        };
        vec![("cause", name.to_owned())]
    }

    /// What the audit entry records the refusal as.
    fn action(self) -> Action {
        match self {
            Cause::SendRule => Action::SendRefused,
            _ => Action::AccessRefused,
        }
    }
}

/// The most certificates and causes counted in one interval; refusals
/// beyond them are counted together under the gateway, so that a flood of
/// distinct certificates cannot grow the tally without bound.
pub const MAX_TALLIES: usize = 10_000;

/// Refused sends of one participant audited one by one in an interval;
/// the rest are counted into one entry per certificate.
pub const SENDS_AUDITED_PER_INTERVAL: u32 = 10;

/// Whose refusals of which cause are counted together.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TallyKey {
    actor: Actor,
    cert: Option<Digest>,
    cause: Cause,
}

/// One key's refusals in the current interval.
#[derive(Debug, Clone)]
struct Tally {
    count: u64,
    first_ms: i64,
    rpc: String,
    message: String,
}

/// The refusal recorder.
#[derive(Clone)]
pub struct Refusals {
    store: Arc<dyn Store>,
    clock: Clock,
    tally: Arc<Mutex<HashMap<TallyKey, Tally>>>,
    /// Refused sends audited one by one in this interval, per participant.
    sends: Arc<Mutex<HashMap<Oin, u32>>>,
}

impl Refusals {
    /// A recorder writing into `store`'s audit log, at `clock`'s time.
    pub fn new(store: Arc<dyn Store>, clock: Clock) -> Self {
        Self {
            store,
            clock,
            tally: Arc::default(),
            sends: Arc::default(),
        }
    }

    fn tally(&self) -> MutexGuard<'_, HashMap<TallyKey, Tally>> {
        self.tally.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a refusal of `actor` (or of a certificate without an OIN:
    /// `None`) with certificate `cert` for `cause`, answered with
    /// `message`, of the call named `rpc` (already sanitised). Writes
    /// nothing now: [`Refusals::flush`] does.
    pub fn count(
        &self,
        actor: Option<&Oin>,
        cert: Option<&Digest>,
        cause: Cause,
        rpc: &str,
        message: &str,
    ) {
        let mut key = TallyKey {
            actor: actor.map_or(Actor::Gateway, |o| Actor::Org(o.clone())),
            cert: cert.copied(),
            cause,
        };
        let mut tally = self.tally();
        if tally.len() >= MAX_TALLIES && !tally.contains_key(&key) {
            key = TallyKey {
                actor: Actor::Gateway,
                cert: None,
                cause,
            };
        }
        tracing::debug!(actor = %key.actor, ?cause, rpc, "call refused");
        METRICS.refusals.get_or_create(&cause.label()).inc();
        let now_ms = self.clock.now_ms();
        tally
            .entry(key)
            .or_insert_with(|| Tally {
                count: 0,
                first_ms: now_ms,
                rpc: rpc.to_owned(),
                message: message.to_owned(),
            })
            .count += 1;
    }

    /// Writes the counted refusals, one audit entry per certificate and
    /// cause, and starts a new interval.
    pub async fn flush(&self) -> Result<(), ServiceError> {
        self.sends
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        let counted: Vec<_> = self.tally().drain().collect();
        if counted.is_empty() {
            return Ok(());
        }
        let now_ms = self.clock.now_ms();
        let drafts = counted
            .into_iter()
            .map(|(key, t)| {
                let cert = key
                    .cert
                    .map_or(String::new(), |c| format!(", certificate SHA-256 {c}"));
                let detail = format!(
                    "{}: {} ({} call(s) refused in {} s{cert})",
                    t.rpc,
                    t.message,
                    t.count,
                    (now_ms - t.first_ms).max(0) / 1000
                );
                tracing::info!(actor = %key.actor, cause = ?key.cause, count = t.count, "calls refused");
                Draft::new(key.actor, key.cause.action()).detail(detail)
            })
            .collect();
        self.store.append_audit(drafts, now_ms).await?;
        Ok(())
    }

    /// Records that `caller`'s Send was refused with `detail`, about
    /// `counterpart` (its recipient): one entry of its own while the
    /// participant has had fewer than [`SENDS_AUDITED_PER_INTERVAL`] this
    /// interval, and counted into the interval's entry after that. A
    /// failure to record is returned: a refusal that cannot be audited is a
    /// failure of the gateway.
    pub async fn record_send(
        &self,
        caller: &Caller,
        counterpart: Option<Oin>,
        detail: String,
    ) -> Result<(), ServiceError> {
        let alone = {
            let mut sends = self.sends.lock().unwrap_or_else(PoisonError::into_inner);
            let audited = sends.entry(caller.oin().clone()).or_default();
            *audited += 1;
            *audited <= SENDS_AUDITED_PER_INTERVAL
        };
        if !alone {
            self.count(
                Some(caller.oin()),
                Some(&caller.cert_sha256),
                Cause::SendRule,
                &caller.rpc,
                &format!(
                    "sends refused for a rule of Send, beyond the {SENDS_AUDITED_PER_INTERVAL} of the interval audited one by one"
                ),
            );
            return Ok(());
        }
        self.record(caller.oin(), Cause::SendRule, counterpart, detail)
            .await
    }

    /// Records that `actor` was refused for `cause`, with `detail` (for an
    /// access refusal: the call's path and the message), about `counterpart`
    /// if the refusal concerns another organisation. A failure to record is
    /// returned: a refusal that cannot be audited is a failure of the gateway.
    async fn record(
        &self,
        actor: &Oin,
        cause: Cause,
        counterpart: Option<Oin>,
        detail: String,
    ) -> Result<(), ServiceError> {
        tracing::info!(oin = %actor, ?cause, %detail, "refused");
        METRICS.refusals.get_or_create(&cause.label()).inc();
        let mut draft = Draft::new(actor.clone(), cause.action()).detail(detail);
        draft.counterpart = counterpart;
        self.store
            .append_audit(vec![draft], self.clock.now_ms())
            .await?;
        Ok(())
    }

    /// Refuses `caller`'s call for `cause` with PERMISSION_DENIED and
    /// `message`, and counts it with the call's name.
    pub fn deny(&self, caller: &Caller, cause: Cause, message: String) -> ServiceError {
        self.count(
            Some(caller.oin()),
            Some(&caller.cert_sha256),
            cause,
            &caller.rpc,
            &message,
        );
        ServiceError::PermissionDenied(message)
    }

    /// Refuses every caller that is not an operator, naming the service.
    pub async fn require_operator(
        &self,
        caller: &Caller,
        service: &str,
    ) -> Result<(), ServiceError> {
        let p = &caller.participant;
        if p.is_operator() {
            return Ok(());
        }
        let message = format!(
            "the {service} service is for operators only; {} ({}) is a {}",
            p.name, p.oin, p.kind
        );
        Err(self.deny(caller, Cause::NotOperator, message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::examples;

    #[tokio::test]
    async fn refusals_are_counted_per_certificate_and_cause_and_written_once_per_interval() {
        let dir = tempfile::tempdir().unwrap();
        let key = crate::crypto::SigningKey::load_or_create(dir.path()).unwrap();
        let store = crate::store::engine::open_in(
            dir.path(),
            1 << 20,
            Arc::new(key),
            crate::store::sealing::Sealing::for_tests(dir.path()),
        )
        .unwrap();
        let refusals = Refusals::new(store.clone(), Clock::system());
        let (a, b) = (examples::oin(1), examples::oin(2));
        let cert = Digest([1; 32]);
        for _ in 0..5000 {
            refusals.count(
                Some(&a),
                Some(&cert),
                Cause::Suspended,
                "/x.v1.S/M",
                "suspended",
            );
        }
        refusals.count(
            Some(&b),
            Some(&cert),
            Cause::UnknownOin,
            "/x.v1.S/M",
            "unknown",
        );
        refusals.count(None, Some(&cert), Cause::NoOin, "/x.v1.S/M", "no OIN");
        assert!(
            store.audit_entries(1, 100).await.unwrap().is_empty(),
            "nothing written yet"
        );
        refusals.flush().await.unwrap();
        let entries = store.audit_entries(1, 100).await.unwrap();
        assert_eq!(entries.len(), 3);
        let of_a = entries
            .iter()
            .find(|e| e.actor == Actor::Org(a.clone()))
            .unwrap();
        assert_eq!(of_a.action, Action::AccessRefused);
        assert!(
            of_a.detail.contains("5000 call(s) refused"),
            "{}",
            of_a.detail
        );
        assert!(
            of_a.detail.starts_with("/x.v1.S/M: suspended"),
            "{}",
            of_a.detail
        );
        assert!(
            entries
                .iter()
                .any(|e| e.actor == Actor::Gateway && e.detail.contains("no OIN"))
        );
        // A new interval starts empty.
        refusals.flush().await.unwrap();
        assert_eq!(store.audit_entries(1, 100).await.unwrap().len(), 3);
    }

    #[test]
    fn a_flood_of_distinct_certificates_is_counted_together_beyond_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let key = crate::crypto::SigningKey::load_or_create(dir.path()).unwrap();
        let store = crate::store::engine::open_in(
            dir.path(),
            1 << 20,
            Arc::new(key),
            crate::store::sealing::Sealing::for_tests(dir.path()),
        )
        .unwrap();
        let refusals = Refusals::new(store, Clock::system());
        for i in 0..(MAX_TALLIES + 500) {
            let mut d = [0; 32];
            d[..8].copy_from_slice(&(i as u64).to_be_bytes());
            refusals.count(None, Some(&Digest(d)), Cause::NoOin, "/p", "no OIN");
        }
        let tally = refusals.tally();
        assert_eq!(tally.len(), MAX_TALLIES + 1);
        let overflow = TallyKey {
            actor: Actor::Gateway,
            cert: None,
            cause: Cause::NoOin,
        };
        assert_eq!(tally[&overflow].count, 500);
    }
}
