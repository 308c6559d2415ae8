"""Colonnade API annotations (generated modules live in v1/)."""
