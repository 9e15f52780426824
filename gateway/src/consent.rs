//! Consent and statutory bases: when a message about a child may flow.
//!
//! A consent is registered by the organisation that obtained it, for one
//! child (kept as a child reference, never the BSN), with a scope: which
//! recipients (by OIN or by kind), which message kinds, which purpose, which
//! period. The age rules of DOMAIN.md decide who must have given it. A message
//! that rests on a consent is checked against it at send and again before
//! every delivery; a statutory basis is allowed only for the kinds the
//! configured policy lists. Each refusal says which condition failed.

use serde::{Deserialize, Serialize};
use time::Date;

use crate::config::StatutesConfig;
use crate::directory::{OrgKind, Participant};
use crate::message::{Kind, Statute};
use crate::validation::{Refusal, parse_date};

/// Who gave a consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Giver {
    /// The holders of parental authority (child under 12).
    Parents,
    /// Parents and child together (child 12 to 15).
    ParentsAndChild,
    /// The young person alone (16 or older).
    YoungPerson,
}

impl Giver {
    /// The giver the age rules ask for a child of `age` full years.
    pub fn required_for_age(age: i32) -> Giver {
        match age {
            ..12 => Giver::Parents,
            12..=15 => Giver::ParentsAndChild,
            _ => Giver::YoungPerson,
        }
    }

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Giver::Parents => "parents",
            Giver::ParentsAndChild => "parents_and_child",
            Giver::YoungPerson => "young_person",
        }
    }
}

/// The state of a consent at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentState {
    /// Not valid yet.
    Pending,
    /// In force.
    Active,
    /// Withdrawn.
    Revoked,
    /// Past its end.
    Lapsed,
}

/// A stored consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    /// UUID v7.
    pub id: String,
    /// The organisation that registered it.
    pub registered_by: String,
    /// Keyed hash of the child's BSN.
    pub child_ref: String,
    /// Who gave it.
    pub given_by: Giver,
    /// The date it was given, "YYYY-MM-DD".
    pub given_on: String,
    /// Recipients covered by OIN.
    pub recipient_oins: Vec<String>,
    /// Recipients covered by kind.
    pub recipient_kinds: Vec<OrgKind>,
    /// Message kinds covered.
    pub message_kinds: Vec<Kind>,
    /// The purpose, as told to the parents.
    pub purpose: String,
    /// Start of validity (Unix ms).
    pub valid_from_ms: i64,
    /// End of validity (Unix ms).
    pub valid_until_ms: i64,
    /// When it was registered (Unix ms).
    pub created_at_ms: i64,
    /// When it was revoked (Unix ms).
    pub revoked_at_ms: Option<i64>,
    /// Why it was revoked.
    pub revoke_reason: String,
}

impl ConsentRecord {
    /// Its state at `now_ms`.
    pub fn state(&self, now_ms: i64) -> ConsentState {
        if self.revoked_at_ms.is_some() {
            ConsentState::Revoked
        } else if now_ms < self.valid_from_ms {
            ConsentState::Pending
        } else if now_ms >= self.valid_until_ms {
            ConsentState::Lapsed
        } else {
            ConsentState::Active
        }
    }

    /// Why it cannot carry a message now, if it cannot: revoked, lapsed or
    /// not yet valid.
    pub fn unusable(&self, now_ms: i64) -> Option<String> {
        let when = |ms: i64| {
            time::OffsetDateTime::from_unix_timestamp(ms / 1000)
                .map(|t| t.date().to_string())
                .unwrap_or_default()
        };
        match self.state(now_ms) {
            ConsentState::Active => None,
            ConsentState::Revoked => Some(format!(
                "consent {} was revoked on {}",
                self.id,
                when(self.revoked_at_ms.unwrap_or_default())
            )),
            ConsentState::Lapsed => Some(format!(
                "consent {} lapsed on {}",
                self.id,
                when(self.valid_until_ms)
            )),
            ConsentState::Pending => Some(format!(
                "consent {} is not valid until {}",
                self.id,
                when(self.valid_from_ms)
            )),
        }
    }

    /// Checks that this consent carries a message of `kind` from `sender` to
    /// `recipient` about the child `child_ref` (None: the message names no
    /// child, as an anonymous consultation). The error names the condition.
    pub fn covers(
        &self,
        sender: &str,
        recipient: &Participant,
        kind: Kind,
        child_ref: Option<&str>,
        now_ms: i64,
    ) -> Result<(), String> {
        if self.registered_by != sender {
            return Err(format!(
                "consent {} was registered by another organisation; only the organisation that registered a consent sends under it",
                self.id
            ));
        }
        if let Some(reason) = self.unusable(now_ms) {
            return Err(reason);
        }
        if child_ref.is_some_and(|c| c != self.child_ref) {
            return Err(format!("consent {} is for another child", self.id));
        }
        let to_covered = self.recipient_oins.contains(&recipient.oin)
            || self.recipient_kinds.contains(&recipient.kind);
        if !to_covered {
            return Err(format!(
                "consent {} does not cover recipient {} (a {})",
                self.id, recipient.oin, recipient.kind
            ));
        }
        if !self.message_kinds.contains(&kind) {
            return Err(format!("consent {} does not cover a {kind}", self.id));
        }
        Ok(())
    }
}

/// A consent to register, as checked input.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The child's BSN (turned into a child reference before storing).
    pub bsn: String,
    /// The child's date of birth.
    pub birth_date: String,
    /// Who gave it.
    pub given_by: Option<Giver>,
    /// The date it was given (empty: today).
    pub given_on: String,
    /// Recipients by OIN.
    pub recipient_oins: Vec<String>,
    /// Recipients by kind.
    pub recipient_kinds: Vec<OrgKind>,
    /// Message kinds.
    pub message_kinds: Vec<Kind>,
    /// The purpose.
    pub purpose: String,
    /// Start (Unix ms; None: now).
    pub valid_from_ms: Option<i64>,
    /// End (Unix ms).
    pub valid_until_ms: Option<i64>,
}

fn invalid(field: &str, rule: impl Into<String>) -> Refusal {
    Refusal::Invalid {
        field: field.into(),
        rule: rule.into(),
    }
}

/// Full years between `birth` and `on`.
pub fn age_on(birth: Date, on: Date) -> i32 {
    let mut age = on.year() - birth.year();
    if (on.month() as u8, on.day()) < (birth.month() as u8, birth.day()) {
        age -= 1;
    }
    age
}

impl Grant {
    /// Checks the grant; returns the date it was given and the validity.
    pub fn check(&self, today: Date, now_ms: i64) -> Result<(String, i64, i64), Refusal> {
        if !crate::bsn::is_valid(&self.bsn) {
            return Err(invalid(
                "bsn",
                "must be a BSN of 9 digits that passes the elfproef",
            ));
        }
        if self.birth_date.is_empty() {
            return Err(invalid(
                "birth_date",
                "is required, to check who must consent",
            ));
        }
        let birth = parse_date("birth_date", &self.birth_date)?;
        let given_on = if self.given_on.is_empty() {
            today
        } else {
            parse_date("given_on", &self.given_on)?
        };
        if given_on > today {
            return Err(invalid("given_on", "must not be in the future"));
        }
        if birth > given_on {
            return Err(invalid(
                "birth_date",
                "must be before the date the consent was given",
            ));
        }
        let given_by = self.given_by.ok_or_else(|| {
            invalid(
                "given_by",
                "is required: parents, parents_and_child or young_person",
            )
        })?;
        let age = age_on(birth, given_on);
        let required = Giver::required_for_age(age);
        if given_by != required {
            return Err(invalid(
                "given_by",
                format!(
                    "a child of {age} on {given_on} consents as {} (under 12: the parents; 12 to 15: parents and child; from 16: the young person alone)",
                    required.as_str()
                ),
            ));
        }
        if self.recipient_oins.is_empty() && self.recipient_kinds.is_empty() {
            return Err(invalid(
                "recipient_oins",
                "name at least one recipient organisation or kind of organisation",
            ));
        }
        for oin in &self.recipient_oins {
            crate::directory::check_oin("recipient_oins", oin)
                .map_err(|e| invalid(e.field, e.rule))?;
        }
        if self.recipient_kinds.contains(&OrgKind::Operator) {
            return Err(invalid(
                "recipient_kinds",
                "the operator receives no messages about children",
            ));
        }
        if self.message_kinds.is_empty() {
            return Err(invalid(
                "message_kinds",
                "name at least one kind of message",
            ));
        }
        let purpose = self.purpose.trim();
        if purpose.is_empty() || self.purpose.chars().count() > 512 {
            return Err(invalid(
                "purpose",
                "must be 1 to 512 characters, as told to the parents",
            ));
        }
        let from = self.valid_from_ms.unwrap_or(now_ms);
        let until = self.valid_until_ms.ok_or_else(|| {
            invalid(
                "valid_until",
                "is required: a consent is given for a period",
            )
        })?;
        if until <= from {
            return Err(invalid("valid_until", "must be after valid_from"));
        }
        if until <= now_ms {
            return Err(invalid("valid_until", "must be in the future"));
        }
        Ok((given_on.to_string(), from, until))
    }
}

/// The statutory-basis policy: which kinds each statute may carry.
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
    ) -> Result<(), String> {
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
            return Err(format!(
                "legal_basis.statutory: {} covers {kinds} only, not a {kind}",
                statute.as_str()
            ));
        }
        if !rule.from.contains(&sender.kind) {
            return Err(format!(
                "legal_basis.statutory: {} is not a basis for a {} to send on",
                statute.as_str(),
                sender.kind
            ));
        }
        if statute == Statute::OverdrachtPo && !dossier_from_po {
            return Err(
                "legal_basis.statutory: overdracht_po covers a primary school's dossier only (profile po_vo or po_po)"
                    .into(),
            );
        }
        Ok(())
    }
}

/// The consent registry: grant, revoke and list, over the store. Revocation
/// withdraws what is in flight under the consent in the same durable step.
pub struct Consents {
    store: std::sync::Arc<dyn crate::store::Store>,
    child_key: std::sync::Arc<crate::crypto::ChildKey>,
    exchange: std::sync::Arc<crate::exchange::Exchange>,
}

impl Consents {
    /// The registry.
    pub fn new(
        store: std::sync::Arc<dyn crate::store::Store>,
        child_key: std::sync::Arc<crate::crypto::ChildKey>,
        exchange: std::sync::Arc<crate::exchange::Exchange>,
    ) -> Self {
        Self {
            store,
            child_key,
            exchange,
        }
    }

    /// Registers a consent obtained by `by`.
    pub async fn grant(
        &self,
        by: &Participant,
        grant: Grant,
    ) -> Result<ConsentRecord, crate::exchange::ExchangeError> {
        use crate::exchange::{ExchangeError, now_ms};
        if by.kind == OrgKind::Operator {
            return Err(ExchangeError::PermissionDenied(
                "the operator registers no consents: it exchanges no messages about children"
                    .into(),
            ));
        }
        let now = now_ms();
        let today = time::OffsetDateTime::now_utc().date();
        let (given_on, from, until) = grant.check(today, now)?;
        let record = ConsentRecord {
            id: uuid::Uuid::now_v7().to_string(),
            registered_by: by.oin.clone(),
            child_ref: self.child_key.child_ref(&grant.bsn),
            given_by: grant.given_by.expect("checked"),
            given_on,
            recipient_oins: grant.recipient_oins,
            recipient_kinds: grant.recipient_kinds,
            message_kinds: grant.message_kinds,
            purpose: grant.purpose.trim().to_owned(),
            valid_from_ms: from,
            valid_until_ms: until,
            created_at_ms: now,
            revoked_at_ms: None,
            revoke_reason: String::new(),
        };
        let draft = crate::audit::Draft {
            actor: by.oin.clone(),
            action: Some(crate::audit::Action::ConsentGranted),
            child_ref: Some(record.child_ref.clone()),
            legal_basis: Some(crate::message::LegalBasis::Consent(record.id.clone())),
            detail: format!("given by {}", record.given_by.as_str()),
            ..crate::audit::Draft::default()
        };
        self.store.grant_consent(&record, draft, now).await?;
        Ok(record)
    }

    /// Revokes a consent `by` registered, withdrawing every undelivered
    /// message under it at once.
    pub async fn revoke(
        &self,
        by: &str,
        consent_id: &str,
        reason: &str,
    ) -> Result<(ConsentRecord, usize), crate::exchange::ExchangeError> {
        use crate::exchange::{ExchangeError, now_ms};
        crate::validation::check_uuid("consent_id", consent_id)?;
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 256 || reason.chars().any(char::is_control)
        {
            return Err(Refusal::Invalid {
                field: "reason".into(),
                rule: "is required: one line of at most 256 characters, without personal data"
                    .into(),
            }
            .into());
        }
        match self
            .store
            .revoke_consent(consent_id, by, reason, now_ms())
            .await?
        {
            crate::store::Revoked::NotFound => Err(ExchangeError::NotFound(format!(
                "consent_id: no consent {consent_id} is registered"
            ))),
            crate::store::Revoked::NotYours => Err(ExchangeError::PermissionDenied(format!(
                "consent {consent_id} was registered by another organisation; only it can revoke it"
            ))),
            crate::store::Revoked::Already(c) => Ok((*c, 0)),
            crate::store::Revoked::Done { consent, withdrawn } => {
                self.exchange.announce_withdrawals(&withdrawn);
                Ok((*consent, withdrawn.len()))
            }
        }
    }

    /// The consents `by` registered, newest first, optionally for one child
    /// and in one state.
    pub async fn list(
        &self,
        by: &str,
        bsn: Option<&str>,
        state: Option<ConsentState>,
    ) -> Result<Vec<ConsentRecord>, crate::exchange::ExchangeError> {
        let child = match bsn {
            Some(b) if !crate::bsn::is_valid(b) => {
                return Err(Refusal::Invalid {
                    field: "bsn".into(),
                    rule: "must be a BSN of 9 digits that passes the elfproef".into(),
                }
                .into());
            }
            Some(b) => Some(self.child_key.child_ref(b)),
            None => None,
        };
        let now = crate::exchange::now_ms();
        Ok(self
            .store
            .consents_of(by)
            .await?
            .into_iter()
            .filter(|c| child.as_ref().is_none_or(|r| *r == c.child_ref))
            .filter(|c| state.is_none_or(|s| c.state(now) == s))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn the_age_rules() {
        assert_eq!(age_on(date!(2015 - 06 - 15), date!(2026 - 06 - 14)), 10);
        assert_eq!(age_on(date!(2015 - 06 - 15), date!(2026 - 06 - 15)), 11);
        assert_eq!(Giver::required_for_age(11), Giver::Parents);
        assert_eq!(Giver::required_for_age(12), Giver::ParentsAndChild);
        assert_eq!(Giver::required_for_age(15), Giver::ParentsAndChild);
        assert_eq!(Giver::required_for_age(16), Giver::YoungPerson);
    }
}
