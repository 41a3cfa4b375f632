"""Reading the ``sql/`` folder: migrations, routines, and the statements in each file.

The files are written as the ``mysql`` client reads them (``DELIMITER $$`` around
procedure bodies), so a DBA can read them as plain SQL. The server itself does not
know DELIMITER, so this module splits each file into single statements. Comments go
on lines of their own (``-- …``): a comment after a statement's delimiter would hide
the delimiter from the splitter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["Migration", "migrations", "render", "routine_files", "sql_dir", "statements"]

_DELIMITER_LINE = re.compile(r"^\s*DELIMITER\s+(\S+)\s*$", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@cache
def sql_dir() -> Path:
    """The packaged ``workcraft/sql`` in a wheel, or the repository's ``sql/``."""
    packaged = Path(__file__).parent / "sql"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).parent.parent / "sql"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"workcraft's sql/ folder is missing (looked in {packaged})")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    def statements(self) -> list[str]:
        return statements(self.path.read_text(encoding="utf-8"))


def migrations() -> list[Migration]:
    found = []
    for path in sorted((sql_dir() / "migrations").glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if not match:
            raise ValueError(f"{path.name}: migration files are named NNNN_snake_name.sql")
        found.append(Migration(int(match.group(1)), match.group(2), path))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise ValueError(f"migrations must be numbered 1..n without gaps, found {versions}")
    return found


def routine_files() -> list[Path]:
    return sorted((sql_dir() / "routines").glob("*.sql"))


def statements(text: str) -> list[str]:
    """Split a client-style SQL script into statements, honouring DELIMITER lines."""
    delimiter = ";"
    result: list[str] = []
    buffer: list[str] = []
    for line in text.splitlines():
        if line.lstrip().startswith("--"):
            continue  # whole-line comments are for readers, not the server
        switch = _DELIMITER_LINE.match(line)
        if switch:
            if "".join(buffer).strip():
                raise ValueError(f"statement not terminated before DELIMITER: {buffer!r}")
            buffer, delimiter = [], switch.group(1)
            continue
        buffer.append(line)
        joined = "\n".join(buffer).rstrip()
        if joined.endswith(delimiter):
            statement = joined[: -len(delimiter)].strip()
            if statement:
                result.append(statement)
            buffer = []
    if "".join(buffer).strip():
        raise ValueError(f"unterminated statement at end of script: {' '.join(buffer)[:200]!r}")
    return result


def render(text: str, values: Mapping[str, int | float]) -> str:
    """Fill ``{{ name }}`` placeholders. Only numbers are accepted, so nothing rendered
    into a procedure can carry SQL."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"sql placeholder {{{{ {name} }}}} has no value")
        value = values[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"sql placeholder {name} must be a number, got {value!r}")
        return repr(value) if isinstance(value, float) else str(value)

    return _PLACEHOLDER.sub(substitute, text)
