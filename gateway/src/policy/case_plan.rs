//! The plan of a case ("one family, one plan"): a versioned document that
//! goes to every party. Version 1 is the first; each new version is one
//! higher than the last; a version sent again (to a party that joined
//! later, or one copy per party) is the same document. In a case with a
//! coordinator, only the coordinator shares the plan. Each new version is a
//! `case_changed` audit entry; each copy is a message of the case.

use super::case_parties::{CaseRefused, Known, standing_in};
use crate::crypto::Digest;
use crate::model::{Action, CaseRecord, Draft, Oin, PlanVersion};

/// The most versions of its plan a case holds.
pub const MAX_VERSIONS: usize = 1000;

/// What sharing a version of the plan is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// A new version, to be recorded first.
    New,
    /// A copy of a version the case holds.
    Copy,
}

/// Whether `by` may share version `version` of the plan (payload digest
/// `digest`) in the case of `record` (as it is stored), and whether it is a
/// new version or a copy of one.
pub fn sharing(
    record: Option<&CaseRecord>,
    known: Known<'_>,
    by: &Oin,
    (version, digest): (u32, Digest),
) -> Result<Sharing, CaseRefused> {
    if let Some(k) = record
        .and_then(|c| c.coordinator.as_ref())
        .filter(|k| k.oin != *by && known.coordinator_holds)
    {
        return Err(CaseRefused::Denied(format!(
            "case_id: {} coordinates case {}: the coordinator shares the plan",
            k.oin, known.id
        )));
    }
    let plans = record.map_or(&[][..], |c| &c.plans[..]);
    let latest = plans.last().map_or(0, |p| p.version);
    match plans.iter().find(|p| p.version == version) {
        Some(p) if p.payload_digest == digest => Ok(Sharing::Copy),
        Some(_) => Err(CaseRefused::Precondition(format!(
            "payload.case_plan.version: version {version} of the plan of case {} is another document; share it as a new version: the next is version {}",
            known.id,
            latest + 1
        ))),
        None if plans.len() >= MAX_VERSIONS => Err(CaseRefused::Precondition(format!(
            "payload.case_plan.version: case {} holds {MAX_VERSIONS} versions of its plan, the most a case holds; start a new case for a new plan",
            known.id
        ))),
        None if version == latest + 1 => Ok(Sharing::New),
        None => Err(CaseRefused::Precondition(format!(
            "payload.case_plan.version: case {} holds {} of its plan; the next is version {}",
            known.id,
            match latest {
                0 => "no version".to_owned(),
                n => format!("versions 1 to {n}"),
            },
            latest + 1
        ))),
    }
}

/// `by` shares a new version of the plan: the record after it and its
/// audit entry. Made in the step that changes the case, so that two
/// versions shared at once are told apart.
pub fn share(
    case: Option<CaseRecord>,
    known: Known<'_>,
    by: &Oin,
    (version, digest): (u32, Digest),
    now_ms: i64,
) -> Result<(CaseRecord, Draft), CaseRefused> {
    let sharing = sharing(case.as_ref(), known, by, (version, digest))?;
    let mut case = standing_in(case, known, now_ms)?;
    let detail = match sharing {
        Sharing::New => {
            case.plans.push(PlanVersion {
                version,
                shared_by: by.clone(),
                shared_at_ms: now_ms,
                payload_digest: digest,
            });
            case.updated_at_ms = now_ms;
            format!("version {version} of the plan shared")
        }
        // Recorded by another send of the same version meanwhile.
        Sharing::Copy => format!("version {version} of the plan shared again"),
    };
    let audit = Draft {
        child_ref: case.child_ref,
        case_id: Some(case.id.clone()),
        ..Draft::new(by.clone(), Action::CaseChanged)
    }
    .detail(detail);
    Ok((case, audit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CaseId, Coordinator, LegalBasis, examples};

    const NOW: i64 = 1_800_000_000_000;

    fn known(id: &CaseId, coordinator_holds: bool) -> Known<'_> {
        Known {
            id,
            child_ref: Some(examples::CHILD),
            took_part: true,
            coordinator_holds,
        }
    }

    #[test]
    fn versions_follow_one_another_and_a_copy_is_the_same_document() {
        let (id, school) = (CaseId::new_v7(), examples::oin(1));
        let (one, two) = (Digest([1; 32]), Digest([2; 32]));
        let shared = |c: Option<CaseRecord>, v| share(c, known(&id, true), &school, v, NOW);
        let (case, audit) = shared(None, (1, one)).unwrap();
        assert_eq!(case.plans.len(), 1);
        assert_eq!(audit.detail, "version 1 of the plan shared");
        let k = known(&id, true);
        assert_eq!(
            sharing(Some(&case), k, &school, (1, one)),
            Ok(Sharing::Copy)
        );
        assert_eq!(sharing(Some(&case), k, &school, (2, two)), Ok(Sharing::New));
        for wrong in [(1, two), (3, two)] {
            let e = sharing(Some(&case), k, &school, wrong)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("payload.case_plan.version:"), "{e}");
            assert!(e.contains("version 2"), "{e}");
        }
        let e = sharing(None, k, &school, (2, two)).unwrap_err().to_string();
        assert!(
            e.contains("holds no version of its plan; the next is version 1"),
            "{e}"
        );
        let (case, _) = shared(Some(case), (2, two)).unwrap();
        assert_eq!(
            case.plans.iter().map(|p| p.version).collect::<Vec<_>>(),
            [1, 2]
        );
    }

    #[test]
    fn with_a_coordinator_only_it_shares_the_plan() {
        let (id, school, jgt) = (CaseId::new_v7(), examples::oin(1), examples::oin(4));
        let mut case = CaseRecord::new(id.clone(), Some(examples::CHILD), NOW);
        case.coordinator = Some(Coordinator {
            oin: jgt.clone(),
            basis: LegalBasis::NoPersonalData,
            set_by: school.clone(),
            since_ms: NOW,
        });
        let v1 = (1, Digest([1; 32]));
        let e = sharing(Some(&case), known(&id, true), &school, v1);
        assert!(
            matches!(e, Err(CaseRefused::Denied(m)) if m.contains("the coordinator shares the plan"))
        );
        assert_eq!(
            sharing(Some(&case), known(&id, true), &jgt, v1),
            Ok(Sharing::New)
        );
        // A coordinator whose consent ended has no such right.
        assert_eq!(
            sharing(Some(&case), known(&id, false), &school, v1),
            Ok(Sharing::New)
        );
    }

    #[test]
    fn a_case_holds_at_most_a_thousand_versions() {
        let (id, school) = (CaseId::new_v7(), examples::oin(1));
        let mut case = CaseRecord::new(id.clone(), Some(examples::CHILD), NOW);
        case.plans = (1..=MAX_VERSIONS as u32)
            .map(|version| PlanVersion {
                version,
                shared_by: school.clone(),
                shared_at_ms: NOW,
                payload_digest: Digest([0; 32]),
            })
            .collect();
        let next = (MAX_VERSIONS as u32 + 1, Digest([1; 32]));
        let e = sharing(Some(&case), known(&id, true), &school, next)
            .unwrap_err()
            .to_string();
        assert!(e.contains("the most a case holds"), "{e}");
    }
}
