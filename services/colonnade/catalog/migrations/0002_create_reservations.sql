-- Stock reservations: stock held for an order until committed, released or expired.
-- A reservation's stock is taken from products.stock when it is made, so the
-- products' stock is always what can still be sold.
CREATE TABLE reservations (
    id          text        PRIMARY KEY,
    state       text        NOT NULL CHECK (state IN ('HELD', 'COMMITTED', 'RELEASED', 'EXPIRED')),
    -- The digest of the items, so a retry with other items under the same id is refused.
    -- Empty for a tombstone: an id released before anything was reserved under it.
    fingerprint text        NOT NULL,
    expire_time timestamptz NOT NULL,
    create_time timestamptz NOT NULL DEFAULT clock_timestamp(),
    update_time timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE reservation_items (
    reservation_id text   NOT NULL REFERENCES reservations (id) ON DELETE CASCADE,
    -- No foreign key to products: a product may be deleted while an old reservation remains.
    product_id     text   NOT NULL,
    quantity       bigint NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (reservation_id, product_id)
);

-- The expiry sweep's scan: only holds, oldest expiry first.
CREATE INDEX reservations_held_expire_time_idx ON reservations (expire_time) WHERE state = 'HELD';
