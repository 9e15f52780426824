-- Schakel's store in PostgreSQL, schema version 1.
--
-- Records are kept as the JSON the sled store writes (the same serde types),
-- and the columns beside them hold only what a step finds them by: the
-- columns play the part of sled's index keys (docs/DECISIONS.md,
-- "PostgreSQL"). Times are Unix milliseconds, as everywhere in the store.

-- Organisations, by OIN.
CREATE TABLE participants (
    oin    text PRIMARY KEY,
    record json NOT NULL
);

-- Messages. A message is in its recipient's inbox while queue_seq is set,
-- leased while leased_until_ms is set, waits for its expiry while
-- expires_at_ms is set, for its payload's destruction after retention
-- while final_at_ms is set, and for its signal's lapse while lapse_at_ms is
-- set; the unique constraint is the idempotency of a sender's client
-- reference.
CREATE TABLE messages (
    id               text PRIMARY KEY,
    sender           text NOT NULL,
    client_reference text NOT NULL,
    recipient        text NOT NULL,
    case_id          text NOT NULL,
    consent_id       text,
    created_at_ms    bigint NOT NULL,
    queue_seq        bigint,
    leased_until_ms  bigint,
    expires_at_ms    bigint,
    final_at_ms      bigint,
    lapse_at_ms      bigint,
    record           json NOT NULL,
    UNIQUE (sender, client_reference)
);
CREATE INDEX messages_inbox   ON messages (recipient, queue_seq) WHERE queue_seq IS NOT NULL;
CREATE INDEX messages_leases  ON messages (leased_until_ms) WHERE leased_until_ms IS NOT NULL;
CREATE INDEX messages_expiry  ON messages (expires_at_ms) WHERE expires_at_ms IS NOT NULL;
CREATE INDEX messages_final   ON messages (final_at_ms) WHERE final_at_ms IS NOT NULL;
CREATE INDEX messages_lapse   ON messages (lapse_at_ms) WHERE lapse_at_ms IS NOT NULL;
CREATE INDEX messages_case    ON messages (case_id, created_at_ms);
CREATE INDEX messages_consent ON messages (consent_id) WHERE consent_id IS NOT NULL;

-- Each recipient's undelivered messages, waiting and leased: kept by the
-- steps that move messages, so that the inbox limit costs one read.
CREATE TABLE inbox_counts (
    recipient text PRIMARY KEY,
    ready     bigint NOT NULL,
    leased    bigint NOT NULL
);

-- Sealed payloads, deleted when they are destroyed. They are encrypted, so
-- PostgreSQL is told not to try to compress them.
CREATE TABLE payloads (
    message_id text PRIMARY KEY REFERENCES messages (id),
    sealed     bytea NOT NULL
);
ALTER TABLE payloads ALTER COLUMN sealed SET STORAGE EXTERNAL;

-- Receipts, unsigned as stored, by sender and cursor. The cursor is the
-- sequence number of the audit entry the receipt names: audit appends are
-- serialised, so cursors grow in commit order and a sender paging by
-- cursor misses none.
CREATE TABLE receipts (
    sender  text NOT NULL,
    cursor  bigint NOT NULL,
    receipt bytea NOT NULL,
    PRIMARY KEY (sender, cursor)
);

-- The head of the one audit chain, in one row that exists from the start:
-- every group of steps locks it first, which serialises the writers of
-- every gateway instance. An empty chain's head is sequence 0 with the
-- genesis hash (32 zero bytes). Entries before start_seq were removed after
-- their retention; the child references of entries up to erased_through
-- were erased (those about a signal by their own schedule).
CREATE TABLE audit_head (
    only_row       boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    seq            bigint NOT NULL,
    hash           bytea NOT NULL,
    start_seq      bigint NOT NULL,
    erased_through bigint NOT NULL
);
INSERT INTO audit_head (seq, hash, start_seq, erased_through)
    VALUES (0, decode(repeat('00', 32), 'hex'), 1, 0);

-- The audit chain.
CREATE TABLE audit (
    seq   bigint PRIMARY KEY,
    entry json NOT NULL
);

-- The audit entries about a child (by child reference) or an organisation
-- (by OIN).
CREATE TABLE audit_about (
    about bytea NOT NULL,
    seq   bigint NOT NULL,
    PRIMARY KEY (about, seq)
);

-- Entries about a signal that hold a child reference, by when their
-- retention starts (the signal's lapse).
CREATE TABLE audit_erase (
    retention_from_ms bigint NOT NULL,
    seq               bigint NOT NULL,
    PRIMARY KEY (retention_from_ms, seq)
);

-- Signed checkpoints of the chain's head.
CREATE TABLE checkpoints (
    seq        bigint PRIMARY KEY,
    checkpoint json NOT NULL
);

-- Consents, by id and registrant; ends_at_ms is set while the consent
-- waits for its end, when the messages under it are withdrawn.
CREATE TABLE consents (
    id            text PRIMARY KEY,
    registrant    text NOT NULL,
    ends_at_ms    bigint,
    record        json NOT NULL
);
CREATE INDEX consents_registrant ON consents (registrant, id);
CREATE INDEX consents_end        ON consents (ends_at_ms) WHERE ends_at_ms IS NOT NULL;

-- Notices scheduled for later, by when they are due. A message's overdue
-- notice has no body: it is made from the message when it is due.
CREATE TABLE notices (
    due_ms bigint NOT NULL,
    id     text NOT NULL,
    notice json,
    PRIMARY KEY (due_ms, id)
);

-- Proof of the keys the data is made with (model::KeyCheck), recorded by
-- the first gateway: an instance whose keys differ is refused at start.
CREATE TABLE key_check (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    record   json NOT NULL
);
