//! Cases ("one child, one family, one plan"): the gateway gives each thread
//! of messages a case id, a reply joins the case of its request and is about
//! its child, and an organisation sees the messages of a case that it sent
//! or received, and no others.

use super::parties::refused;
use super::{CaseView, Exchange};
use crate::crypto::ChildRef;
use std::collections::HashMap;

use crate::model::{CaseId, CaseRecord, ConsentState, LegalBasis, MessageRecord, Oin};
use crate::policy::case_parties::Known;
use crate::policy::case_plan::{self, Sharing};
use crate::policy::consent::unusable;
use crate::policy::invalid;
use crate::policy::send::ValidSend;
use crate::service::ServiceError;
use crate::service::case_standing::{self, involves};

/// Where a message goes in the child's trail.
pub(super) struct Thread {
    /// The case it joins or starts.
    pub case_id: CaseId,
    /// The child it is about: its own, or for a reply its request's.
    pub child_ref: Option<ChildRef>,
    /// For a version of the plan, or a response to one: the version.
    pub plan_version: Option<u32>,
    /// A new version of the plan, to be recorded once the basis holds.
    pub new_plan: Option<NewPlan>,
}

/// A new version of a case's plan that a send shares.
pub(super) struct NewPlan {
    case: CaseId,
    child_ref: Option<ChildRef>,
    coordinator_holds: bool,
    by: Oin,
    version: u32,
    digest: crate::crypto::Digest,
}

impl NewPlan {
    fn known(&self) -> Known<'_> {
        Known {
            id: &self.case,
            child_ref: self.child_ref,
            took_part: true,
            coordinator_holds: self.coordinator_holds,
        }
    }
}

fn not_yours(case: &CaseId) -> ServiceError {
    ServiceError::NotFound(format!(
        "case_id: no case {case} that you sent or received messages in"
    ))
}

impl Exchange {
    /// The case `valid` from `sender` joins, and the child it is about. A
    /// reply joins its request's case and is about its child; a message
    /// that names a case the sender took part in joins it, if it is about
    /// the same child; any other starts a case.
    pub(super) async fn thread(
        &self,
        (sender, recipient): (&Oin, &Oin),
        valid: &ValidSend,
        request: Option<&MessageRecord>,
        child_ref: Option<ChildRef>,
    ) -> Result<Thread, ServiceError> {
        if let Some(request) = request {
            if valid.case_id().is_some_and(|c| *c != request.case_id) {
                return Err(invalid(
                    "case_id",
                    format!(
                        "a reply belongs to the case of its request ({}); leave case_id empty",
                        request.case_id
                    ),
                )
                .into());
            }
            return Ok(Thread {
                case_id: request.case_id.clone(),
                child_ref: request.child_ref,
                plan_version: request.plan_version,
                new_plan: None,
            });
        }
        let Some(case) = valid.case_id() else {
            return Ok(Thread {
                case_id: CaseId::new_v7(),
                child_ref,
                plan_version: None,
                new_plan: None,
            });
        };
        let messages = self.store.case_messages(case).await?;
        let record = self.store.case_record(case).await?;
        let party = self.takes_part(record.as_ref(), sender).await?;
        if !party && !messages.iter().any(|m| involves(m, sender)) {
            return Err(not_yours(case));
        }
        if child_ref.is_none() && messages.iter().any(|m| m.child_ref.is_some()) {
            // An anonymous consultation in a named child's case would be
            // about that child, without the consent that needs.
            return Err(invalid(
                "case_id",
                format!("case {case} is about a named child, and this message names none: an anonymous consultation stays out of it; leave case_id empty to start a case of its own"),
            )
            .into());
        }
        if let Some(child) = child_ref
            && messages
                .iter()
                .any(|m| m.child_ref.is_some_and(|other| other != child))
        {
            return Err(invalid(
                "case_id",
                format!("case {case} is about another child; leave case_id empty to start a case"),
            )
            .into());
        }
        let new_plan = match valid.kind().is_of_case() {
            true => {
                self.to_a_party((sender, recipient), valid, record, child_ref)
                    .await?
            }
            false => None,
        };
        Ok(Thread {
            case_id: case.clone(),
            child_ref,
            plan_version: valid.plan_version(),
            new_plan,
        })
    }

    /// A plan or a meeting goes from a current party of its case to
    /// another; a plan's version must be the next, or a copy of one the
    /// case holds ([`case_plan::sharing`]). What is to be recorded of a new
    /// version comes back, for [`Exchange::record_plan`] once the message's
    /// basis is checked.
    async fn to_a_party(
        &self,
        (sender, recipient): (&Oin, &Oin),
        valid: &ValidSend,
        record: Option<CaseRecord>,
        child_ref: Option<ChildRef>,
    ) -> Result<Option<NewPlan>, ServiceError> {
        let Some(case) = valid.case_id() else {
            return Ok(None);
        };
        if !self.takes_part(record.as_ref(), sender).await? {
            return Err(ServiceError::PermissionDenied(format!(
                "case_id: a {} is sent by a party of the case, and you take no part in case {case} now; ask its coordinator to add you",
                valid.kind()
            )));
        }
        if !self.takes_part(record.as_ref(), recipient).await? {
            return Err(ServiceError::FailedPrecondition(format!(
                "recipient_oin: {recipient} takes no part in case {case}: a {} goes to the case's parties; add it first (AddCaseParty)",
                valid.kind()
            )));
        }
        let Some(version) = valid.plan_version() else {
            return Ok(None);
        };
        let coordinator_holds =
            case_standing::coordinator_holds(self.store.as_ref(), &self.clock, record.as_ref())
                .await?;
        let plan = NewPlan {
            case: case.clone(),
            child_ref,
            coordinator_holds,
            by: sender.clone(),
            version,
            digest: valid.payload_digest(),
        };
        let sharing = case_plan::sharing(
            record.as_ref(),
            plan.known(),
            sender,
            (version, plan.digest),
        )
        .map_err(refused)?;
        Ok((sharing == Sharing::New).then_some(plan))
    }

    /// Records a new version of the plan with its case, in the step that
    /// changes the case ([`case_plan::share`]), so that the versions follow
    /// one another whatever is sent at once.
    pub(super) async fn record_plan(&self, plan: NewPlan) -> Result<(), ServiceError> {
        let now = self.clock.now_ms();
        let case = plan.case.clone();
        let edit = Box::new(move |stored: Option<CaseRecord>| {
            case_plan::share(
                stored,
                plan.known(),
                &plan.by,
                (plan.version, plan.digest),
                now,
            )
        });
        self.store
            .edit_case(&case, edit, now)
            .await?
            .map_err(refused)?;
        Ok(())
    }

    /// Whether `org` takes part in the case of `record` now
    /// ([`case_standing::takes_part`]).
    pub(super) async fn takes_part(
        &self,
        record: Option<&CaseRecord>,
        org: &Oin,
    ) -> Result<bool, ServiceError> {
        case_standing::takes_part(self.store.as_ref(), &self.clock, record, org).await
    }

    /// The messages of `case` that `caller` sent or received, oldest first,
    /// or all of them while it is a party of the case; with the case's
    /// parties. A case that does not exist and another's are NOT_FOUND in
    /// the same time ([`super::even_time`]).
    pub async fn list_case(&self, caller: &Oin, case: &CaseId) -> Result<CaseView, ServiceError> {
        let started = tokio::time::Instant::now();
        super::even_time::evened(started, self.list_case_now(caller, case).await).await
    }

    async fn list_case_now(&self, caller: &Oin, case: &CaseId) -> Result<CaseView, ServiceError> {
        let record = self.store.case_record(case).await?;
        let party = self.takes_part(record.as_ref(), caller).await?;
        let messages: Vec<_> = self
            .store
            .case_messages(case)
            .await?
            .into_iter()
            .filter(|m| party || involves(m, caller))
            .collect();
        if messages.is_empty() && !party {
            return Err(not_yours(case));
        }
        // Who takes part is for the parties; another sees its own entry,
        // those it added, a coordinator it recorded and the plan versions
        // it shared.
        let record = match record {
            Some(mut c) if !party => {
                c.parties
                    .retain(|p| p.oin == *caller || p.added_by == *caller);
                c.coordinator = c.coordinator.filter(|k| k.set_by == *caller);
                c.plans.retain(|v| v.shared_by == *caller);
                Some(c)
            }
            other => other,
        };
        let basis_ended = self.basis_ended(record.as_ref()).await?;
        Ok(CaseView {
            messages,
            record,
            basis_ended,
        })
    }

    /// The current parties of `record` whose consent ended: when, and why.
    async fn basis_ended(
        &self,
        record: Option<&CaseRecord>,
    ) -> Result<HashMap<Oin, (i64, String)>, ServiceError> {
        let mut ended = HashMap::new();
        let now = self.clock.now_ms();
        for party in record
            .iter()
            .flat_map(|c| &c.parties)
            .filter(|p| p.is_current())
        {
            let LegalBasis::Consent(id) = &party.basis else {
                continue;
            };
            let Some(c) = self.store.consent(id).await? else {
                continue;
            };
            let at = match c.state(now) {
                ConsentState::Revoked => c.revoked_at_ms.unwrap_or(now),
                ConsentState::Lapsed => c.ends_at_ms(),
                ConsentState::Active | ConsentState::Pending => continue,
            };
            if let Some(why) = unusable(&c, now) {
                ended.insert(party.oin.clone(), (at, why.0));
            }
        }
        Ok(ended)
    }
}
