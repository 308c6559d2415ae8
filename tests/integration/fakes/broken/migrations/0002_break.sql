-- Refers to a table that does not exist: the bootstrap must fail naming the service.
ALTER TABLE no_such_table ADD COLUMN x integer;
