-- The parties of a case: one row per case that ever had one, its record
-- JSON with the child sealed under the key of its term.
CREATE TABLE cases (
    id     text  PRIMARY KEY,
    record jsonb NOT NULL
);
