"""Fixtures of the compute/edge modules and environment tests (defined in harness.py)."""

from .harness import applied_envs, env_runs

__all__ = ["applied_envs", "env_runs"]
