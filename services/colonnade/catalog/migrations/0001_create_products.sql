-- Products of the catalog. Money is stored as units + nanos like google.type.Money,
-- so no precision is lost and ordering by price is exact.
CREATE TABLE products (
    id            text        PRIMARY KEY,
    sku           text        NOT NULL,
    title         text        NOT NULL,
    description   text        NOT NULL DEFAULT '',
    category      text        NOT NULL DEFAULT '',
    currency_code char(3)     NOT NULL,
    price_units   bigint      NOT NULL CHECK (price_units >= 0),
    price_nanos   integer     NOT NULL CHECK (price_nanos BETWEEN 0 AND 999999999),
    stock         bigint      NOT NULL CHECK (stock >= 0),
    create_time   timestamptz NOT NULL DEFAULT clock_timestamp(),
    update_time   timestamptz NOT NULL DEFAULT clock_timestamp(),
    etag          text        NOT NULL
);

CREATE UNIQUE INDEX products_sku_key ON products (sku);
-- The default listing order and its keyset continuation.
CREATE INDEX products_create_time_id_idx ON products (create_time, id);
-- Category filters with the default order.
CREATE INDEX products_category_create_time_id_idx ON products (category, create_time, id);
