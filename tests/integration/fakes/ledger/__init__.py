"""A second service for the bootstrap tests, so one service role can be shown out of another's
schema."""
