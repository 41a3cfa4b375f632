"""This package's version, in one place: the build reads it (``[tool.hatch.version]``),
and setup and peons record it without ``importlib.metadata`` (some 1.3 MiB a peon
would carry for one string)."""

__version__ = "1.0.0.dev0"
