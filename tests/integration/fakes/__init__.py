"""Service packages that exist only for tests: migrations for the database bootstrap tests."""
