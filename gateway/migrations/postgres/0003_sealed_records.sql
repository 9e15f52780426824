-- Schema version 3: what identifies a child in a message, consent or audit
-- entry is kept sealed under the key of the day its term ends (the
-- gateway's child-terms.key), and audit_about finds a child's entries by
-- the reference blinded under that day's key. The records a database of
-- version 2 holds in plain are sealed by the gateway after this migration,
-- in Rust (store::postgres::sealing_step), once: this row says whether that
-- is still to do. A database with no record has nothing to seal.

CREATE TABLE store_sealing (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    done     boolean NOT NULL
);

INSERT INTO store_sealing (done)
SELECT NOT EXISTS (SELECT 1 FROM messages)
   AND NOT EXISTS (SELECT 1 FROM consents)
   AND NOT EXISTS (SELECT 1 FROM audit);
