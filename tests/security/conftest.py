"""Fixtures for the security tests: real peon processes."""

from tests.badinput.support import spawn  # noqa: F401  (fixture)
from tests.peons import peon_env, peons  # noqa: F401  (fixtures)
