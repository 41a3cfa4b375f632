"""Fixtures for the bad-input catalogue: real peon processes on the module's database."""

from tests.badinput.support import spawn  # noqa: F401  (fixture)
from tests.peons import peon_env, peons  # noqa: F401  (fixtures)
