//! The rules: pure functions that decide whether a request, a route, a legal
//! basis or a consent is acceptable. No I/O, no clock (the caller passes
//! `now`), no store; each refusal names the field and the rule, so that it
//! can go to the client as it is.
//!
//! A reader should find the rule that refused a message by opening the file
//! named after it: [`send`] and [`payloads`] (content), [`routing`] (who may
//! send what to whom), [`statutes`] (statutory bases), [`consent`] (age rules
//! and what a consent covers), [`participant`] (directory entries),
//! [`replies`] (what a reply travels under), [`requests`] (the small
//! requests: leases, rejections, reasons), [`quota`]
//! (what one party may have held undelivered), [`signals`] (the
//! Verwijsindex loop: a signal's changes and match notices),
//! [`case_parties`] (who takes part in a case), [`case_plan`] (its plan
//! versions), [`case_payloads`] (the
//! plan, the meeting, an arrangement request and its decision).

pub mod anonymous;
pub mod bsn;
pub mod case_parties;
pub mod case_payloads;
pub mod case_plan;
pub mod consent;
pub mod fields;
pub mod notices;
pub mod participant;
pub mod payloads;
#[cfg(test)]
mod proptests;
pub mod quota;
pub mod replies;
pub mod requests;
pub mod routing;
pub mod send;
pub mod signals;
pub mod statutes;
#[cfg(test)]
pub(crate) mod test_requests;

/// A request that breaks a rule: a field (INVALID_ARGUMENT) or a size limit
/// (RESOURCE_EXHAUSTED). Its text names the field and the rule, or the limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// A field breaks a rule.
    #[error("{field}: {rule}")]
    Field {
        /// The field, with its path, e.g. `payload.signalering.bsn`.
        field: String,
        /// The rule.
        rule: String,
    },
    /// A size limit is exceeded.
    #[error("{0}")]
    Limit(String),
}

impl Violation {
    /// The field a field violation names.
    pub fn field(&self) -> Option<&str> {
        match self {
            Violation::Field { field, .. } => Some(field),
            Violation::Limit(_) => None,
        }
    }
}

/// A violation of `rule` by `field`.
pub fn invalid(field: impl Into<String>, rule: impl Into<String>) -> Violation {
    Violation::Field {
        field: field.into(),
        rule: rule.into(),
    }
}
