"""Fixtures for tests that run real peon processes."""

from tests.peons import peon_env, peons  # noqa: F401  (fixtures)
