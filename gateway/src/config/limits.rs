//! The rules between the `[limits]` settings that their types cannot
//! check; each message names the setting and the rule.

use super::sections::LimitsConfig;

/// What one answer of a batch may take in its frame (a SendResponse with
/// its signed receipt is about 400 bytes), for the bound on batch size.
const BATCH_ANSWER_BYTES: u64 = 1024;

impl LimitsConfig {
    /// Checks the limits against each other.
    pub fn check(&self) -> Result<(), String> {
        let l = self;
        if self.max_message_bytes < 1024 || self.max_message_bytes > 1 << 30 {
            return Err("limits.max_message_bytes must be between 1024 and 1073741824".into());
        }
        if !(1..=10_000).contains(&l.max_batch_messages) {
            return Err("limits.max_batch_messages must be between 1 and 10000".into());
        }
        if l.requests_per_second > 0 && l.max_batch_messages > l.request_burst {
            return Err(format!(
                "limits.max_batch_messages ({}) must be at most limits.request_burst ({}): each item counts as a call, so a larger batch could never pass the rate limit",
                l.max_batch_messages, l.request_burst
            ));
        }
        if l.requests_per_second_per_certificate > 0
            && l.max_batch_messages > l.request_burst_per_certificate
        {
            return Err(format!(
                "limits.max_batch_messages ({}) must be at most limits.request_burst_per_certificate ({}): each item counts as a call of its certificate",
                l.max_batch_messages, l.request_burst_per_certificate
            ));
        }
        for (name, quota) in [
            (
                "limits.max_undelivered_bytes_per_inbox",
                l.max_undelivered_bytes_per_inbox,
            ),
            (
                "limits.max_undelivered_bytes_per_sender",
                l.max_undelivered_bytes_per_sender,
            ),
        ] {
            if quota < l.max_message_bytes {
                return Err(format!(
                    "{name} ({quota}) must be at least limits.max_message_bytes ({}), or a message of the largest allowed size could never be held",
                    l.max_message_bytes
                ));
            }
        }
        let answers_fit = l.frame_limit_bytes() / BATCH_ANSWER_BYTES;
        if u64::from(l.max_batch_messages) > answers_fit {
            return Err(format!(
                "limits.max_batch_messages must be at most {answers_fit} with limits.max_message_bytes at {}, so that a batch's answers (about 1 KiB each) fit in one frame",
                l.max_message_bytes
            ));
        }
        if l.max_body_bytes_in_flight_per_participant < l.frame_limit_bytes() {
            return Err(format!(
                "limits.max_body_bytes_in_flight_per_participant must be at least {} (limits.max_message_bytes and 64 KiB for the envelope), so that one message can arrive",
                l.frame_limit_bytes()
            ));
        }
        if l.max_body_bytes_in_flight < l.max_body_bytes_in_flight_per_participant {
            return Err(
                "limits.max_body_bytes_in_flight must be at least limits.max_body_bytes_in_flight_per_participant"
            .into());
        }
        Ok(())
    }
}
