//! When the gateway tells an organisation something it must act on, and in
//! which words: the notices a consent schedules when it is registered (its
//! lapse, the reconfirmation at 16), the notice a message schedules when it
//! is accepted (overdue after three working days, and for a signal whose
//! informing was postponed, the day to inform the family), and the notice
//! a revocation by another organisation sends its registrant.

use time::Date;

use crate::clock::{local_date_of_ms, start_of_day_ms, working_days_after};
use crate::model::{
    AgeMark, Condition, ConsentRecord, GATEWAY_OIN, MessageId, MessageRecord, NoticeDraft,
    NoticeType, Oin, Scheduled,
};

/// Working days within which a recipient acknowledges a message, as iJw
/// messaging asks of a reply.
pub const WORKING_DAYS_TO_ACKNOWLEDGE: u32 = 3;

/// When a message sent at `sent_ms` is overdue: at the end (in the
/// Netherlands) of the third working day after the day it was sent.
pub fn overdue_at_ms(sent_ms: i64) -> Option<i64> {
    let sent_on = local_date_of_ms(sent_ms)?;
    let due = working_days_after(sent_on, WORKING_DAYS_TO_ACKNOWLEDGE);
    Some(start_of_day_ms(due.next_day()?))
}

/// The moment `days` days before day `on` starts, but not before `now_ms`.
fn ahead(on: Date, days: u32, now_ms: i64) -> i64 {
    let day = on - time::Duration::days(i64::from(days));
    start_of_day_ms(day).max(now_ms)
}

/// The notices a new consent schedules for its registrant, `notice_days`
/// ahead: that it lapses (at its end, or at a birthday), and for a consent
/// of parents and child that the young person turns 16.
pub fn for_consent(c: &ConsentRecord, notice_days: u32, now_ms: i64) -> Vec<Scheduled> {
    let draft = |notice_type, due_on: Date, text: String| NoticeDraft {
        recipient: c.registered_by.clone(),
        notice_type,
        consent_id: Some(c.id.clone()),
        message_ids: vec![],
        due_on: Some(due_on),
        text,
        revoked_by: None,
        condition: Condition::ConsentInForce(c.id.clone()),
    };
    let mut out = Vec::new();
    let lapse_text = |l: &AgeMark| {
        format!(
            "Consent {} lapses on {}: {}. Register a new consent in time if the work goes on; from that day nothing more travels under this one.",
            c.id,
            l.on,
            c.lapse_reason(l)
        )
    };
    match c.ends_by_age() {
        Some(l) => out.push(Scheduled {
            at_ms: ahead(l.on, notice_days, now_ms),
            notice: draft(NoticeType::ConsentLapsing, l.on, lapse_text(&l)),
        }),
        None => {
            if let Some(end) = local_date_of_ms(c.valid_until_ms - 1) {
                let text = format!(
                    "Consent {} ends on {end} (its valid_until). Register a new consent in time if the work goes on.",
                    c.id
                );
                out.push(Scheduled {
                    at_ms: ahead(end, notice_days, now_ms),
                    notice: draft(NoticeType::ConsentLapsing, end, text),
                });
            }
        }
    }
    if let Some(r) = c.reconfirm {
        let text = format!(
            "The young person turns 16 on {} and decides alone from then on. Reconfirm consent {} with the young person: register a new consent given by the young person (given_by young_person).",
            r.on, c.id
        );
        out.push(Scheduled {
            at_ms: ahead(r.on, notice_days, now_ms),
            notice: draft(NoticeType::ConsentReconfirm, r.on, text),
        });
    }
    out
}

/// The notice its sender gets if `r` is not acknowledged in time.
pub fn overdue(r: &MessageRecord) -> Option<Scheduled> {
    let at_ms = r.overdue_at_ms?;
    Some(Scheduled {
        at_ms,
        notice: NoticeDraft {
            recipient: r.sender.clone(),
            notice_type: NoticeType::MessageOverdue,
            consent_id: None,
            message_ids: vec![r.id.clone()],
            due_on: local_date_of_ms(at_ms - 1),
            text: String::new(),
            revoked_by: None,
            condition: Condition::Undelivered(r.id.clone()),
        },
    })
}

/// The overdue notice of message `id` as it is when due, made again from
/// its record (`None`: the message is gone): every store keeps an overdue
/// notice as a bare schedule entry. For a message that is gone, or has no
/// overdue notice, a notice whose condition fails, so that the entry is
/// dropped without a message.
pub fn overdue_when_due(id: &MessageId, r: Option<&MessageRecord>) -> NoticeDraft {
    if let Some(s) = r.and_then(overdue) {
        return s.notice;
    }
    NoticeDraft {
        recipient: Oin::parse(GATEWAY_OIN).expect("the gateway's OIN is 20 digits"),
        notice_type: NoticeType::MessageOverdue,
        consent_id: None,
        message_ids: vec![id.clone()],
        due_on: None,
        text: String::new(),
        revoked_by: None,
        condition: Condition::Undelivered(id.clone()),
    }
}

/// The notices a message schedules when it is accepted: its overdue
/// notice, and for a signal whose informing was postponed, the notice that
/// the day to inform the family passed. Every engine schedules these in
/// the accept's step.
pub fn on_accept(r: &MessageRecord) -> impl Iterator<Item = Scheduled> {
    overdue(r).into_iter().chain(informing_due(r))
}

/// The notice to a signaller that the day by which it said it would
/// inform the family of signal `r` passed, if it postponed informing.
pub fn informing_due(r: &MessageRecord) -> Option<Scheduled> {
    let at_ms = r.signal?.inform_by_ms?;
    let day = local_date_of_ms(at_ms - 1);
    Some(Scheduled {
        at_ms,
        notice: NoticeDraft {
            recipient: r.sender.clone(),
            notice_type: NoticeType::InformingDue,
            consent_id: None,
            message_ids: vec![r.id.clone()],
            due_on: day,
            text: format!(
                "You postponed informing the family of signal {} until {}, and did not say they were informed. Inform them now and send a signal_change of type INFORMED, or withdraw the signal.",
                r.id,
                day.map(|d| d.to_string()).unwrap_or_default()
            ),
            revoked_by: None,
            condition: Condition::InformingPending(r.id.clone()),
        },
    })
}

/// The words of an overdue notice about `ids`.
pub fn overdue_text(ids: &[MessageId]) -> String {
    let list = ids
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{} message(s) you sent were not acknowledged within {WORKING_DAYS_TO_ACKNOWLEDGE} working days: {list}. Ask the recipient; the gateway offers them until they expire.",
        ids.len()
    )
}

/// The notice to `c`'s registrant that `by` revoked it, at `now_ms`.
pub fn revoked(c: &ConsentRecord, by: &Oin, reason: &str, now_ms: i64) -> Scheduled {
    Scheduled {
        at_ms: now_ms,
        notice: NoticeDraft {
            recipient: c.registered_by.clone(),
            notice_type: NoticeType::ConsentRevoked,
            consent_id: Some(c.id.clone()),
            message_ids: vec![],
            due_on: local_date_of_ms(now_ms),
            text: format!(
                "Consent {} was revoked by {by}, which received messages under it and was told by the parents or the young person: {reason}. Undelivered messages under it were withdrawn; send nothing more under it.",
                c.id
            ),
            revoked_by: Some(by.clone()),
            condition: Condition::Always,
        },
    }
}

/// The notices that a revocation of consent `c` by `by` sends to the
/// organisations that hold data received under it (AVG art. 19: the
/// controller tells each recipient of the data that the ground for it is
/// gone): one to each recipient of `received` (recipient, message) but
/// `by`, which knows, naming its messages. The reason stays out: it was
/// typed about the child for the registrant.
pub fn revoked_for_holders(
    c: &ConsentRecord,
    by: &Oin,
    received: &[(Oin, MessageId)],
    now_ms: i64,
) -> Vec<Scheduled> {
    let mut holders: Vec<(Oin, Vec<MessageId>)> = Vec::new();
    for (holder, id) in received {
        if holder == by {
            continue;
        }
        match holders.iter_mut().find(|(h, _)| h == holder) {
            Some((_, ids)) => ids.push(id.clone()),
            None => holders.push((holder.clone(), vec![id.clone()])),
        }
    }
    holders
        .into_iter()
        .map(|(holder, message_ids)| Scheduled {
            at_ms: now_ms,
            notice: NoticeDraft {
                recipient: holder,
                notice_type: NoticeType::ConsentRevoked,
                consent_id: Some(c.id.clone()),
                due_on: local_date_of_ms(now_ms),
                text: format!(
                    "Consent {} was withdrawn; you received {} message(s) under it (listed in this notice). Its ground is gone: stop using what you received under it, and erase or restrict it as the law asks of you (AVG art. 17 and 19). Nothing more is sent under it.",
                    c.id,
                    message_ids.len()
                ),
                message_ids,
                revoked_by: Some(by.clone()),
                condition: Condition::Always,
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::examples::{self, oin};
    use time::macros::{date, datetime};

    fn ms(t: time::OffsetDateTime) -> i64 {
        crate::clock::ms_of(t)
    }

    #[test]
    fn a_message_is_overdue_after_the_third_working_day() {
        // Sent Friday 27 November 2026, 16:00 in Amsterdam: due by the end
        // of Wednesday 2 December.
        let sent = ms(datetime!(2026-11-27 15:00 UTC));
        assert_eq!(
            overdue_at_ms(sent),
            Some(start_of_day_ms(date!(2026 - 12 - 03)))
        );
        // Sent at 23:30 on Monday in Amsterdam: Monday's three days, due
        // by the end of Thursday.
        let late = ms(datetime!(2026-11-23 22:30 UTC));
        assert_eq!(
            overdue_at_ms(late),
            Some(start_of_day_ms(date!(2026 - 11 - 27)))
        );
    }

    fn consent() -> ConsentRecord {
        examples::consent(oin(2), 0, start_of_day_ms(date!(2027 - 06 - 01)))
    }

    #[test]
    fn a_consent_schedules_its_lapse_and_its_reconfirmation_ahead() {
        let now = start_of_day_ms(date!(2026 - 11 - 24));
        let mut c = consent();
        let plain = for_consent(&c, 30, now);
        assert_eq!(plain.len(), 1);
        assert_eq!(plain[0].notice.notice_type, NoticeType::ConsentLapsing);
        assert_eq!(plain[0].notice.due_on, Some(date!(2027 - 05 - 31)));
        assert_eq!(plain[0].at_ms, start_of_day_ms(date!(2027 - 05 - 01)));
        assert_eq!(plain[0].notice.recipient, oin(2));
        assert_eq!(
            plain[0].notice.condition,
            Condition::ConsentInForce(c.id.clone())
        );

        // The 12th birthday comes first, within the notice period: due now.
        let twelve = date!(2026 - 12 - 10);
        c.lapse = Some(AgeMark {
            on: twelve,
            at_ms: start_of_day_ms(twelve),
            age: 12,
        });
        let sixteen = date!(2027 - 03 - 01);
        c.reconfirm = Some(AgeMark {
            on: sixteen,
            at_ms: start_of_day_ms(sixteen),
            age: 16,
        });
        let notices = for_consent(&c, 30, now);
        assert_eq!(notices[0].at_ms, now);
        assert_eq!(notices[0].notice.due_on, Some(twelve));
        assert!(
            notices[0].notice.text.contains("turns 12"),
            "{}",
            notices[0].notice.text
        );
        assert_eq!(notices[1].notice.notice_type, NoticeType::ConsentReconfirm);
        assert_eq!(notices[1].at_ms, start_of_day_ms(date!(2027 - 01 - 30)));
        assert!(notices[1].notice.text.contains("given_by young_person"));
    }

    #[test]
    fn a_revocation_by_another_organisation_tells_the_registrant() {
        let c = consent();
        let n = revoked(&c, &oin(4), "ouders trekken in", 5).notice;
        assert_eq!((n.recipient, n.revoked_by), (oin(2), Some(oin(4))));
        assert!(n.text.contains("ouders trekken in"));
        assert!(overdue_text(&[]).starts_with("0 message(s)"));
    }
}

#[cfg(test)]
mod holders {
    use super::*;
    use crate::model::examples::{self, oin};

    #[test]
    fn each_holder_but_the_revoker_is_told_of_its_own_messages() {
        let c = examples::consent(oin(1), 0, 10);
        let (a, b, d) = (
            MessageId::new_v7(),
            MessageId::new_v7(),
            MessageId::new_v7(),
        );
        let received = [
            (oin(2), a.clone()),
            (oin(3), b.clone()),
            (oin(2), d.clone()),
            (oin(4), MessageId::new_v7()),
        ];
        let notices = revoked_for_holders(&c, &oin(4), &received, 5);
        assert_eq!(notices.len(), 2);
        assert_eq!(notices[0].notice.recipient, oin(2));
        assert_eq!(notices[0].notice.message_ids, [a, d]);
        assert_eq!(notices[1].notice.message_ids, [b]);
        assert!(notices[0].notice.text.contains("AVG art. 17 and 19"));
    }
}
