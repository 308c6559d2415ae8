"""Developer tooling for the Colonnade repository: never shipped in an image."""
