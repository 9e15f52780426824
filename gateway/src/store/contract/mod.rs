//! The contract every storage engine keeps: one body of tests, generic over
//! the engine. An engine's tests call [`store_contract!`] with a function
//! that opens its store in a folder (and opens it again on the same folder
//! after it was dropped), and every test below runs against it.

pub mod fixtures;
mod queue;
mod quotas;
mod records;
mod signals;
mod trail;
mod tree;

pub use queue::*;
pub use quotas::*;
pub use records::*;
pub use signals::*;
pub use trail::*;
pub use tree::*;

pub use fixtures::Open;

/// Generates one `#[tokio::test]` per contract test for the engine that
/// `$open` opens; with `if $ready`, a test returns at once when `$ready()`
/// is false (the engine's server is not installed here).
macro_rules! store_contract {
    ($open:path) => {
        store_contract!($open, if || true);
    };
    ($open:path, if $ready:expr) => {
        store_contract!(@tests $open, $ready;
            accepts_once_per_reference,
            a_full_inbox_refuses_more,
            bytes_held_are_counted_and_bounded,
            leases_in_order_and_each_message_once,
            a_lease_that_runs_out_comes_back_in_its_place,
            a_lease_takes_only_what_fits_its_bytes,
            finish_delivers_rejects_and_answers_repeats,
            messages_expire_at_lease_and_by_sweep,
            payloads_are_destroyed_after_retention,
            revoking_a_consent_withdraws_what_is_undelivered,
            a_lapsed_consent_is_noticed_at_lease_and_by_sweep,
            participants_are_added_once_and_edited_one_after_another,
            the_audit_chain_links_is_checkpointed_and_pruned,
            receipts_are_paged_by_cursor,
            everything_survives_a_reopen,
            a_large_payload_round_trips,
            concurrent_steps_see_each_other,
            a_case_lists_its_messages,
            notices_are_due_in_order_and_taken_once,
            child_references_are_erased_after_their_retention,
            audit_entries_are_found_by_child_and_by_organisation,
            every_receipt_handed_out_is_proved_and_verifies,
            a_signal_change_is_made_with_its_message_or_not_at_all,
            a_postponed_informing_is_noticed_unless_the_family_was_informed,
            an_extended_signal_keeps_its_content_until_its_new_lapse,
            the_audit_log_is_a_tree_that_proves_every_receipt
        );
    };
    (@tests $open:path, $ready:expr; $($name:ident),*) => {
        $(
            #[tokio::test]
            async fn $name() {
                if !($ready)() {
                    return;
                }
                $crate::store::contract::$name($open).await
            }
        )*
    };
}
