"""A service whose second migration fails, for the bootstrap's error path."""
