-- Schema version 5: the audit log as a Merkle tree (RFC 9162 hashing).
-- audit_nodes holds the hash of every complete subtree (level, index),
-- written once by the group that completes it and never removed, not even
-- with the entries retention removes, so that every signed head stays
-- provable. tree_heads holds one signed head per group that added entries.
-- audit_head keeps the tree's size and right edge (the hashes of its complete
-- subtrees along the right, largest first, concatenated) and the sequence
-- number of its first leaf; NULL until the gateway built the nodes over the
-- entries of a database of version 4, once, in Rust
-- (store::postgres::tree::build), before its writer starts.

CREATE TABLE audit_nodes (
    level smallint NOT NULL,
    idx   bigint NOT NULL,
    hash  bytea NOT NULL,
    PRIMARY KEY (level, idx)
);

CREATE TABLE tree_heads (
    size bigint PRIMARY KEY,
    head json NOT NULL
);

ALTER TABLE audit_head ADD COLUMN tree_first bigint;
ALTER TABLE audit_head ADD COLUMN tree_edge bytea NOT NULL DEFAULT ''::bytea;
-- The tree's size beside the chain's head, held to it: an instance of an
-- earlier release still running beside this one moves the head without
-- the tree, and its write is refused rather than leave an edge that no
-- longer fits.
ALTER TABLE audit_head ADD COLUMN tree_size bigint NOT NULL DEFAULT 0;
ALTER TABLE audit_head ADD CONSTRAINT tree_follows_the_chain
    CHECK (tree_first IS NULL OR tree_size = seq - tree_first + 1);
UPDATE audit_head SET tree_first = 1 WHERE seq = 0;
