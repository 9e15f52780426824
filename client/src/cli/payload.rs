//! The JSON form of the four payloads, for `--file` and for printing what
//! arrives (and of the gateway's notices, for printing). Field names are the proto field names; enums are lowercase words
//! ("po_vo", "soon", "answered"); dates are "YYYY-MM-DD".

use schakel_client::proto as pb;
use serde::{Deserialize, Serialize};

use super::words::{parse, word_of};

/// How to reach the professional.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Contact {
    pub name: String,
    pub role: String,
    pub phone: String,
    pub email: String,
}

impl From<Contact> for pb::Contact {
    fn from(c: Contact) -> Self {
        pb::Contact {
            name: c.name,
            role: c.role,
            phone: c.phone,
            email: c.email,
        }
    }
}

impl From<pb::Contact> for Contact {
    fn from(c: pb::Contact) -> Self {
        Contact {
            name: c.name,
            role: c.role,
            phone: c.phone,
            email: c.email,
        }
    }
}

/// A signal of concern.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Signalering {
    pub bsn: String,
    pub birth_date: String,
    pub contact: Contact,
    pub signal_date: String,
    pub valid_until: String,
    pub parents_informed: bool,
    pub child_informed: bool,
    pub informing_postponed_reason: String,
    /// unreachable or against_child_interest; with a postponement only.
    pub informing_postponed_code: String,
    /// The day by which the family is informed; with a postponement only.
    pub inform_by: String,
}

/// A signaller's change of its signal, as printed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SignalChange {
    pub signal_id: String,
    #[serde(rename = "type")]
    pub change: String,
    pub valid_until: String,
    pub parents_informed: bool,
    pub child_informed: bool,
}

/// The Verwijsindex's match notice, as printed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MatchNotice {
    pub signal_id: String,
    pub other_signal_id: String,
    pub other_signaller_oin: String,
    pub other_contact: Contact,
}

/// A notice from the gateway, as printed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Notice {
    #[serde(rename = "type")]
    pub notice_type: String,
    pub consent_id: String,
    pub message_ids: Vec<String>,
    pub due_on: String,
    pub text: String,
    pub revoked_by_oin: String,
}

/// A pupil.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Pupil {
    pub bsn: String,
    pub given_names: String,
    pub family_name: String,
    pub birth_date: String,
}

/// A school attended.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchoolHistoryEntry {
    pub brin: String,
    pub vestiging: String,
    pub school_name: String,
    pub from_date: String,
    pub until_date: String,
    pub group: String,
}

/// The school advice.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchoolAdvice {
    pub advice: String,
    pub date: String,
    pub revised: bool,
}

/// A test result.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TestResult {
    pub test_code: String,
    pub score: String,
    pub date: String,
}

/// Absence.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Absence {
    pub authorised_days: u32,
    pub unauthorised_days: u32,
}

/// A transfer dossier.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Overdrachtsdossier {
    /// po_vo, po_po, vo_vo or swv_aanvraag.
    pub profile: String,
    pub school_year: String,
    pub pupil: Pupil,
    pub school_history: Vec<SchoolHistoryEntry>,
    pub school_advice: Option<SchoolAdvice>,
    pub test_results: Vec<TestResult>,
    pub support_needs: String,
    pub absence: Absence,
    pub parents_viewed: bool,
    pub parents_comment: String,
    pub contact: Contact,
}

/// A request for consultation.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Consultatieverzoek {
    pub bsn: String,
    pub question: String,
    /// routine, soon or urgent.
    pub urgency: String,
    pub requested_role: String,
    pub respond_by: String,
    pub contact: Contact,
}

/// A reply.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Consultatieantwoord {
    /// accepted, declined, answered or needs_consent.
    pub outcome: String,
    pub answer: String,
    pub contact: Contact,
    pub proposed_coordinator_oin: String,
}

impl Overdrachtsdossier {
    /// The wire form.
    pub fn into_pb(self) -> anyhow::Result<pb::Overdrachtsdossier> {
        Ok(pb::Overdrachtsdossier {
            profile: parse::<pb::DossierProfile>("profile", &self.profile)? as i32,
            school_year: self.school_year,
            pupil: Some(pb::Pupil {
                bsn: self.pupil.bsn,
                given_names: self.pupil.given_names,
                family_name: self.pupil.family_name,
                birth_date: self.pupil.birth_date,
            }),
            school_history: self
                .school_history
                .into_iter()
                .map(|h| pb::SchoolHistoryEntry {
                    brin: h.brin,
                    vestiging: h.vestiging,
                    school_name: h.school_name,
                    from_date: h.from_date,
                    until_date: h.until_date,
                    group: h.group,
                })
                .collect(),
            school_advice: self.school_advice.map(|a| pb::SchoolAdvice {
                advice: a.advice,
                date: a.date,
                revised: a.revised,
            }),
            test_results: self
                .test_results
                .into_iter()
                .map(|t| pb::TestResult {
                    test_code: t.test_code,
                    score: t.score,
                    date: t.date,
                })
                .collect(),
            support_needs: self.support_needs,
            absence: Some(pb::Absence {
                authorised_days: self.absence.authorised_days,
                unauthorised_days: self.absence.unauthorised_days,
            }),
            parents_viewed: self.parents_viewed,
            parents_comment: self.parents_comment,
            contact: Some(self.contact.into()),
        })
    }
}

impl Signalering {
    /// The wire form.
    pub fn into_pb(self) -> anyhow::Result<pb::Signalering> {
        let code = match self.informing_postponed_code.as_str() {
            "" => 0,
            typed => parse::<pb::PostponementReason>("informing_postponed_code", typed)? as i32,
        };
        Ok(pb::Signalering {
            bsn: self.bsn,
            birth_date: self.birth_date,
            contact: Some(self.contact.into()),
            signal_date: self.signal_date,
            valid_until: self.valid_until,
            parents_informed: self.parents_informed,
            child_informed: self.child_informed,
            informing_postponed_reason: self.informing_postponed_reason,
            informing_postponed_code: code,
            inform_by: self.inform_by,
        })
    }
}

impl Consultatieverzoek {
    /// The wire form.
    pub fn into_pb(self) -> anyhow::Result<pb::Consultatieverzoek> {
        Ok(pb::Consultatieverzoek {
            bsn: self.bsn,
            question: self.question,
            urgency: parse::<pb::Urgency>("urgency", &self.urgency)? as i32,
            requested_role: self.requested_role,
            respond_by: self.respond_by,
            contact: Some(self.contact.into()),
        })
    }
}

impl Consultatieantwoord {
    /// The wire form.
    pub fn into_pb(self) -> anyhow::Result<pb::Consultatieantwoord> {
        Ok(pb::Consultatieantwoord {
            outcome: parse::<pb::ReplyOutcome>("outcome", &self.outcome)? as i32,
            answer: self.answer,
            contact: Some(self.contact.into()),
            proposed_coordinator_oin: self.proposed_coordinator_oin,
        })
    }
}

/// A received body as JSON, with its kind.
pub fn body_json(body: &pb::payload::Body) -> (&'static str, serde_json::Value) {
    use pb::payload::Body;
    let contact = |c: &Option<pb::Contact>| Contact::from(c.clone().unwrap_or_default());
    let (kind, value) = match body {
        Body::Signalering(s) => (
            "signalering",
            serde_json::to_value(Signalering {
                bsn: s.bsn.clone(),
                birth_date: s.birth_date.clone(),
                contact: contact(&s.contact),
                signal_date: s.signal_date.clone(),
                valid_until: s.valid_until.clone(),
                parents_informed: s.parents_informed,
                child_informed: s.child_informed,
                informing_postponed_reason: s.informing_postponed_reason.clone(),
                informing_postponed_code: match s.informing_postponed_code {
                    0 => String::new(),
                    code => word_of::<pb::PostponementReason>(code),
                },
                inform_by: s.inform_by.clone(),
            }),
        ),
        Body::SignalChange(c) => (
            "signal_change",
            serde_json::to_value(SignalChange {
                signal_id: c.signal_id.clone(),
                change: word_of::<pb::SignalChangeType>(c.r#type),
                valid_until: c.valid_until.clone(),
                parents_informed: c.parents_informed,
                child_informed: c.child_informed,
            }),
        ),
        Body::MatchNotice(m) => (
            "match_notice",
            serde_json::to_value(MatchNotice {
                signal_id: m.signal_id.clone(),
                other_signal_id: m.other_signal_id.clone(),
                other_signaller_oin: m.other_signaller_oin.clone(),
                other_contact: contact(&m.other_contact),
            }),
        ),
        Body::Overdrachtsdossier(d) => {
            let p = d.pupil.clone().unwrap_or_default();
            let a = d.absence.unwrap_or_default();
            (
                "overdrachtsdossier",
                serde_json::to_value(Overdrachtsdossier {
                    profile: word_of::<pb::DossierProfile>(d.profile),
                    school_year: d.school_year.clone(),
                    pupil: Pupil {
                        bsn: p.bsn,
                        given_names: p.given_names,
                        family_name: p.family_name,
                        birth_date: p.birth_date,
                    },
                    school_history: d
                        .school_history
                        .iter()
                        .map(|h| SchoolHistoryEntry {
                            brin: h.brin.clone(),
                            vestiging: h.vestiging.clone(),
                            school_name: h.school_name.clone(),
                            from_date: h.from_date.clone(),
                            until_date: h.until_date.clone(),
                            group: h.group.clone(),
                        })
                        .collect(),
                    school_advice: d.school_advice.as_ref().map(|a| SchoolAdvice {
                        advice: a.advice.clone(),
                        date: a.date.clone(),
                        revised: a.revised,
                    }),
                    test_results: d
                        .test_results
                        .iter()
                        .map(|t| TestResult {
                            test_code: t.test_code.clone(),
                            score: t.score.clone(),
                            date: t.date.clone(),
                        })
                        .collect(),
                    support_needs: d.support_needs.clone(),
                    absence: Absence {
                        authorised_days: a.authorised_days,
                        unauthorised_days: a.unauthorised_days,
                    },
                    parents_viewed: d.parents_viewed,
                    parents_comment: d.parents_comment.clone(),
                    contact: contact(&d.contact),
                }),
            )
        }
        Body::Consultatieverzoek(c) => (
            "consultatieverzoek",
            serde_json::to_value(Consultatieverzoek {
                bsn: c.bsn.clone(),
                question: c.question.clone(),
                urgency: word_of::<pb::Urgency>(c.urgency),
                requested_role: c.requested_role.clone(),
                respond_by: c.respond_by.clone(),
                contact: contact(&c.contact),
            }),
        ),
        Body::Consultatieantwoord(a) => (
            "consultatieantwoord",
            serde_json::to_value(Consultatieantwoord {
                outcome: word_of::<pb::ReplyOutcome>(a.outcome),
                answer: a.answer.clone(),
                contact: contact(&a.contact),
                proposed_coordinator_oin: a.proposed_coordinator_oin.clone(),
            }),
        ),
        Body::CasePlan(_)
        | Body::PlanResponse(_)
        | Body::CaseMeeting(_)
        | Body::ArrangementRequest(_)
        | Body::ArrangementDecision(_) => {
            return super::send_case::body_json(body).expect("a case body");
        }
        Body::Notice(n) => (
            "notice",
            serde_json::to_value(Notice {
                notice_type: word_of::<pb::NoticeType>(n.r#type),
                consent_id: n.consent_id.clone(),
                message_ids: n.message_ids.clone(),
                due_on: n.due_on.clone(),
                text: n.text.clone(),
                revoked_by_oin: n.revoked_by_oin.clone(),
            }),
        ),
    };
    (kind, value.expect("payloads serialise"))
}
