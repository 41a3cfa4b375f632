"""The version lives in workcraft/version.py; the build reads it from there."""

from __future__ import annotations

from importlib import metadata

import workcraft
from workcraft.schema import package_version


def test_the_installed_version_is_the_one_in_the_package() -> None:
    assert workcraft.__version__ == metadata.version("workcraft") == package_version()
