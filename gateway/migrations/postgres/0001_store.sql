-- Schakel's store in PostgreSQL, schema version 1.
--
-- Records are kept as the JSON the sled store writes (the same serde types),
-- and the columns beside them hold only what a step finds them by: the
-- columns play the part of sled's index keys (docs/DECISIONS.md,
-- "PostgreSQL"). Times are Unix milliseconds, as everywhere in the store.

-- Organisations, by OIN.
CREATE TABLE participants (
    oin    text PRIMARY KEY,
    record jsonb NOT NULL
);

-- Messages. A message is in its recipient's inbox while queue_seq is set,
-- leased while leased_until_ms is set, waits for its expiry while
-- expires_at_ms is set, and for its payload's destruction while
-- purge_at_ms is set; the unique constraint is the idempotency of a
-- sender's client reference.
CREATE TABLE messages (
    id               text PRIMARY KEY,
    sender           text NOT NULL,
    client_reference text NOT NULL,
    recipient        text NOT NULL,
    case_id          text,
    consent_id       text,
    queue_seq        bigint,
    leased_until_ms  bigint,
    expires_at_ms    bigint,
    purge_at_ms      bigint,
    lapse_at_ms      bigint,
    record           jsonb NOT NULL,
    UNIQUE (sender, client_reference)
);
CREATE INDEX messages_inbox   ON messages (recipient, queue_seq) WHERE queue_seq IS NOT NULL;
CREATE INDEX messages_leases  ON messages (leased_until_ms) WHERE leased_until_ms IS NOT NULL;
CREATE INDEX messages_leased  ON messages (recipient) WHERE leased_until_ms IS NOT NULL;
CREATE INDEX messages_expiry  ON messages (expires_at_ms) WHERE expires_at_ms IS NOT NULL;
CREATE INDEX messages_purge   ON messages (purge_at_ms) WHERE purge_at_ms IS NOT NULL;
CREATE INDEX messages_lapse   ON messages (lapse_at_ms) WHERE lapse_at_ms IS NOT NULL;
CREATE INDEX messages_case    ON messages (case_id, id) WHERE case_id IS NOT NULL;
CREATE INDEX messages_consent ON messages (consent_id) WHERE consent_id IS NOT NULL;

-- The order of every inbox: first in, first out.
CREATE SEQUENCE queue_seq;

-- Sealed payloads, deleted when they are destroyed.
CREATE TABLE payloads (
    message_id text PRIMARY KEY REFERENCES messages (id),
    sealed     bytea NOT NULL
);

-- Receipts, unsigned as stored, by sender and cursor. The cursor is the
-- sequence number of the audit entry the receipt names: audit appends are
-- serialised, so cursors grow in commit order and a sender paging by
-- cursor misses none.
CREATE TABLE receipts (
    sender     text NOT NULL,
    cursor     bigint NOT NULL,
    message_id text NOT NULL,
    receipt    bytea NOT NULL,
    PRIMARY KEY (sender, cursor)
);
CREATE INDEX receipts_message ON receipts (message_id, cursor);

-- The head of the one audit chain, in one row that exists from the start:
-- every step that appends locks it, which serialises appends across
-- gateway instances. An empty chain's head is sequence 0 with the genesis
-- hash (32 zero bytes).
CREATE TABLE audit_head (
    only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    seq       bigint NOT NULL,
    hash      bytea NOT NULL,
    start_seq bigint NOT NULL
);
INSERT INTO audit_head (seq, hash, start_seq) VALUES (0, decode(repeat('00', 32), 'hex'), 1);

-- The audit chain.
CREATE TABLE audit (
    seq        bigint PRIMARY KEY,
    made_at_ms bigint NOT NULL,
    entry      jsonb NOT NULL
);

-- The audit entries about a child (by child reference) or an organisation
-- (by OIN): `about` is the index key the sled store uses for the same.
CREATE TABLE audit_about (
    about bytea NOT NULL,
    seq   bigint NOT NULL,
    PRIMARY KEY (about, seq)
);

-- Audit entries holding a child reference, by when its retention starts.
CREATE TABLE audit_erase (
    retention_from_ms bigint NOT NULL,
    seq               bigint NOT NULL,
    PRIMARY KEY (retention_from_ms, seq)
);

-- Signed checkpoints of the chain's head.
CREATE TABLE checkpoints (
    seq        bigint PRIMARY KEY,
    checkpoint jsonb NOT NULL
);

-- Consents, by id, registrant and end of validity.
CREATE TABLE consents (
    id             text PRIMARY KEY,
    registrant     text NOT NULL,
    valid_until_ms bigint,
    record         jsonb NOT NULL
);
CREATE INDEX consents_registrant ON consents (registrant);
CREATE INDEX consents_end        ON consents (valid_until_ms) WHERE valid_until_ms IS NOT NULL;

-- Notices scheduled for later, by when they are due.
CREATE TABLE notices (
    due_ms bigint NOT NULL,
    id     text NOT NULL,
    notice jsonb NOT NULL,
    PRIMARY KEY (due_ms, id)
);
