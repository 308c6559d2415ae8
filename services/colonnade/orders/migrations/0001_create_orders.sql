-- Orders and their line items. An order's `step` is its saga log: the catalog call
-- that is still owed (NULL when none is), so a recovery pass can finish or compensate
-- orders a crash left between steps.
CREATE TABLE orders (
    id            text        PRIMARY KEY,
    -- AIP-155: a retried create with the same request id finds this row.
    request_id    text        UNIQUE,
    -- The digest of what was asked, so a reused request id with another body is refused.
    fingerprint   text        NOT NULL,
    state         text        NOT NULL CHECK (state IN ('PENDING', 'CONFIRMED', 'SHIPPED', 'CANCELLED')),
    step          text        CHECK (step IN ('RESERVE', 'COMMIT', 'RELEASE')),
    currency_code char(3)     NOT NULL,
    total_units   bigint      NOT NULL CHECK (total_units >= 0),
    total_nanos   integer     NOT NULL CHECK (total_nanos BETWEEN 0 AND 999999999),
    -- Bumped on every change, so watchers see each one exactly once.
    version       integer     NOT NULL DEFAULT 1,
    create_time   timestamptz NOT NULL DEFAULT clock_timestamp(),
    update_time   timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE order_items (
    order_id    text    NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position    integer NOT NULL,
    product     text    NOT NULL,
    quantity    bigint  NOT NULL CHECK (quantity > 0),
    price_units bigint  NOT NULL CHECK (price_units >= 0),
    price_nanos integer NOT NULL CHECK (price_nanos BETWEEN 0 AND 999999999),
    PRIMARY KEY (order_id, position)
);

-- Listing: newest first, with its keyset continuation; state filters use the same order.
CREATE INDEX orders_create_time_id_idx ON orders (create_time DESC, id DESC);
CREATE INDEX orders_state_create_time_id_idx ON orders (state, create_time DESC, id DESC);
-- The recovery pass: orders with a step still owed, oldest change first.
CREATE INDEX orders_owed_step_idx ON orders (update_time) WHERE step IS NOT NULL;
