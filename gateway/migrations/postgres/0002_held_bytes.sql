-- Schema version 2: the payload bytes held undelivered (waiting or
-- leased), per inbox and per sender, kept by the steps that move messages
-- so that the byte quotas (limits.max_undelivered_bytes_per_inbox and
-- limits.max_undelivered_bytes_per_sender) cost one read. What a database
-- of version 1 holds undelivered is counted here, once.

ALTER TABLE inbox_counts ADD COLUMN bytes bigint NOT NULL DEFAULT 0;

CREATE TABLE sender_bytes (
    sender text PRIMARY KEY,
    bytes  bigint NOT NULL
);

UPDATE inbox_counts c SET bytes = h.bytes
FROM (SELECT recipient, sum((record->>'payload_bytes')::bigint) AS bytes
      FROM messages WHERE record->>'state' IN ('ready', 'leased')
      GROUP BY recipient) h
WHERE c.recipient = h.recipient;

INSERT INTO sender_bytes (sender, bytes)
SELECT sender, sum((record->>'payload_bytes')::bigint)
FROM messages WHERE record->>'state' IN ('ready', 'leased')
GROUP BY sender;
