"""Fixtures for the chaos suite (real peons, real kills, a real database restart)."""

from tests.peons import peon_env, peons  # noqa: F401  (fixtures)
