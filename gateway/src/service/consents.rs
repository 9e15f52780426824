//! The consent registry: grant, revoke and list, over the store. A consent
//! is registered by the organisation that obtained it, for one child (kept
//! as a child reference, never the BSN); revocation withdraws what is in
//! flight under it in the same durable step. The rules are in
//! [`crate::policy::consent`].

use std::sync::Arc;

use super::case_standing;
use super::notify::Notifier;
use super::refusals::{Cause, Refusals};
use super::{Caller, ServiceError};
use crate::clock::Clock;
use crate::config::ConsentConfig;
use crate::crypto::{ChildKey, ChildRef};
use crate::model::{
    Action, CaseId, ConsentId, ConsentRecord, ConsentState, Draft, LegalBasis, Oin, Terms,
};
use crate::policy::consent::{Grant, revocation_reason};
use crate::policy::{fields, notices};
use crate::store::{Revoked, Store};

/// The consent registry.
pub struct Consents {
    store: Arc<dyn Store>,
    child_key: Arc<ChildKey>,
    notifier: Arc<Notifier>,
    refusals: Refusals,
    clock: Clock,
    rules: ConsentConfig,
}

impl Consents {
    /// The registry, announcing withdrawals through `notifier`.
    pub fn new(
        store: Arc<dyn Store>,
        child_key: Arc<ChildKey>,
        notifier: Arc<Notifier>,
        refusals: Refusals,
        clock: Clock,
        rules: ConsentConfig,
    ) -> Self {
        Self {
            store,
            child_key,
            notifier,
            refusals,
            clock,
            rules,
        }
    }

    /// The clock consents are dated and checked by.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Registers a consent obtained by the caller.
    pub async fn grant(
        &self,
        caller: &Caller,
        grant: Grant,
    ) -> Result<ConsentRecord, ServiceError> {
        if caller.participant.is_operator() {
            let message =
                "the operator registers no consents: it exchanges no messages about children";
            return Err(self
                .refusals
                .deny(caller, Cause::OperatorConsent, message.into()));
        }
        let now = self.clock.now_ms();
        let g = grant.check(&self.rules, self.clock.today(), now)?;
        let child_ref = self.child_key.child_ref(&g.bsn);
        if let Some(case) = &g.case_id {
            self.check_meeting(caller, case, &child_ref).await?;
        }
        let record = ConsentRecord {
            id: ConsentId::new_v7(),
            registered_by: caller.oin().clone(),
            child_ref: Some(child_ref),
            given_by: g.given_by,
            given_on: g.given_on,
            recipient_oins: g.recipient_oins,
            recipient_kinds: g.recipient_kinds,
            message_kinds: g.message_kinds,
            purpose: g.purpose,
            purpose_code: Some(g.purpose_code),
            valid_from_ms: g.valid_from_ms,
            valid_until_ms: g.valid_until_ms,
            created_at_ms: now,
            revoked_at_ms: None,
            revoke_reason: String::new(),
            revoked_by: None,
            lapse: g.lapse,
            reconfirm: g.reconfirm,
            birth_ref: Some(self.child_key.birth_ref(&g.bsn, g.birth_date)),
            consented_by: g.consented_by,
            obtained: g.obtained,
            case_id: g.case_id,
        };
        let notices = notices::for_consent(&record, self.rules.notice_days, now);
        let draft = Draft {
            child_ref: record.child_ref,
            case_id: record.case_id.clone(),
            legal_basis: Some(LegalBasis::Consent(record.id.clone())),
            terms: Terms {
                purpose: record.purpose_code,
                necessity_declared: false,
            },
            ..Draft::new(caller.oin().clone(), Action::ConsentGranted)
        }
        .detail(
            format!(
                "given by {} ({}), {}",
                record.given_by.as_str(),
                record
                    .consented_by
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(" and "),
                record.obtained.map_or("how not stated", |o| o.as_str())
            ) + &record
                .case_id
                .as_ref()
                .map(|case| format!(", for the parties of case {case}"))
                .unwrap_or_default(),
        );
        self.store
            .grant_consent(&record, draft, notices, now)
            .await?;
        Ok(record)
    }

    /// Whether `by` may register the consent of `case`'s meeting for the
    /// child `child_ref`: it stands in the case, which is about that child,
    /// and it is the case's coordinator, if the case has one.
    async fn check_meeting(
        &self,
        caller: &Caller,
        case: &CaseId,
        child_ref: &ChildRef,
    ) -> Result<(), ServiceError> {
        let by = caller.oin();
        let standing = case_standing::standing(self.store.as_ref(), &self.clock, case, by).await?;
        if standing.child_ref != Some(*child_ref) {
            return Err(ServiceError::FailedPrecondition(format!(
                "bsn: case {case} is about another child (or names none); a meeting's consent is about the case's child"
            )));
        }
        match standing.coordinator() {
            Some(k) if k != by => {
                let message = format!(
                    "case_id: {k} coordinates case {case}: the coordinator registers the consent of the case's meeting"
                );
                Err(self.refusals.deny(caller, Cause::NotCoordinator, message))
            }
            _ => Ok(()),
        }
    }

    /// Revokes a consent the caller registered, or one it received messages
    /// under (when the parents tell it), withdrawing every undelivered
    /// message under it at once; returns it and how many were withdrawn.
    pub async fn revoke(
        &self,
        caller: &Caller,
        consent_id: &ConsentId,
        reason: &str,
    ) -> Result<(ConsentRecord, usize), ServiceError> {
        let reason = revocation_reason(reason)?;
        match self
            .store
            .revoke_consent(consent_id, caller.oin(), &reason, self.clock.now_ms())
            .await?
        {
            Revoked::NotFound => Err(ServiceError::NotFound(format!(
                "consent_id: no consent {consent_id} is registered"
            ))),
            Revoked::NotYours => {
                let message = format!(
                    "consent {consent_id} was registered by another organisation; only it, or an organisation that received messages under it, can revoke it"
                );
                Err(self.refusals.deny(caller, Cause::NotRegistrant, message))
            }
            Revoked::Already(c) => Ok((*c, 0)),
            Revoked::Done { consent, withdrawn } => {
                self.notifier.announce_withdrawals(&withdrawn);
                Ok((*consent, withdrawn.len()))
            }
        }
    }

    /// The consents `by` registered, newest first, optionally for one child
    /// and in one state.
    pub async fn list(
        &self,
        by: &Oin,
        bsn: Option<&str>,
        state: Option<ConsentState>,
    ) -> Result<Vec<ConsentRecord>, ServiceError> {
        let child = match bsn {
            Some(b) => {
                fields::bsn("bsn", b)?;
                Some(self.child_key.child_ref(b))
            }
            None => None,
        };
        let now = self.clock.now_ms();
        Ok(self
            .store
            .consents_of(by)
            .await?
            .into_iter()
            .filter(|c| child.is_none_or(|r| Some(r) == c.child_ref))
            .filter(|c| state.is_none_or(|s| c.state(now) == s))
            .collect())
    }
}
