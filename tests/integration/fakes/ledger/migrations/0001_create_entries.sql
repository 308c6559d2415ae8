-- The ledger's entries: what the catalog role must not be able to read.
CREATE TABLE entries (
    id     bigint PRIMARY KEY,
    amount bigint NOT NULL
);
INSERT INTO entries VALUES (1, 100);
