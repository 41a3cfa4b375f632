"""Reading sql/: the DELIMITER-aware splitter, placeholders, migrations, routines."""

from __future__ import annotations

import re

import pytest

from workcraft import sql_files
from workcraft.config import Settings
from workcraft.schema import latest_version, routine_values

SCRIPT = """\
-- a comment line; with a semicolon that must not split
CREATE TABLE t (a INT);
INSERT INTO t VALUES (1),
    (2);
DELIMITER $$
DROP PROCEDURE IF EXISTS p$$
CREATE PROCEDURE p()
BEGIN
    DECLARE n INT DEFAULT 0;
    -- inner comment
    SET n = 1;
END$$
DELIMITER ;
SELECT 'done';
"""


def test_statements_honour_delimiter_lines() -> None:
    assert sql_files.statements(SCRIPT) == [
        "CREATE TABLE t (a INT)",
        "INSERT INTO t VALUES (1),\n    (2)",
        "DROP PROCEDURE IF EXISTS p",
        "CREATE PROCEDURE p()\nBEGIN\n    DECLARE n INT DEFAULT 0;\n    SET n = 1;\nEND",
        "SELECT 'done'",
    ]


def test_delimiter_is_case_insensitive_and_may_be_the_last_switch() -> None:
    text = "delimiter //\nCREATE EVENT e DO SELECT 1; //\n"
    assert sql_files.statements(text) == ["CREATE EVENT e DO SELECT 1;"]


def test_empty_and_comment_only_scripts_have_no_statements() -> None:
    assert sql_files.statements("") == []
    assert sql_files.statements("-- nothing\n   \n-- here\n") == []


def test_an_unterminated_statement_is_an_error() -> None:
    with pytest.raises(ValueError, match="unterminated statement"):
        sql_files.statements("SELECT 1;\nSELECT 2")


def test_a_statement_left_open_before_delimiter_is_an_error() -> None:
    with pytest.raises(ValueError, match="not terminated before DELIMITER"):
        sql_files.statements("SELECT 1\nDELIMITER $$\n")


def test_render_fills_numbers() -> None:
    rendered = sql_files.render("a {{ x }} b {{y}} c {{ x }}", {"x": 5, "y": 0.25})
    assert rendered == "a 5 b 0.25 c 5"


@pytest.mark.parametrize("value", ["1; DROP TABLE bountyboard", "5", True, None, b"1"])
def test_render_rejects_anything_but_a_number(value: object) -> None:
    with pytest.raises(TypeError, match="placeholder x must be a number"):
        sql_files.render("SELECT {{ x }}", {"x": value})  # type: ignore[dict-item]


def test_render_rejects_an_unknown_placeholder() -> None:
    with pytest.raises(KeyError, match=r"\{\{ missing \}\} has no value"):
        sql_files.render("SELECT {{ x }}, {{ missing }}", {"x": 1})


def test_migrations_are_numbered_one_to_n() -> None:
    found = sql_files.migrations()
    assert len(found) >= 2
    assert [m.version for m in found] == list(range(1, len(found) + 1))
    assert latest_version() == len(found)
    for m in found:
        assert m.path.name == f"{m.version:04d}_{m.name}.sql"
        assert m.statements(), f"{m.path.name} has no statements"
    names = sorted(p.name for p in (sql_files.sql_dir() / "migrations").iterdir())
    assert names == [m.path.name for m in found]


def test_migrations_have_no_placeholders() -> None:
    # migrations run once and are recorded: settings belong in routines, which are
    # re-created on every setup
    for m in sql_files.migrations():
        assert "{{" not in m.path.read_text(), m.path.name


def test_every_routine_file_renders_with_default_settings() -> None:
    values = routine_values(Settings())
    files = sql_files.routine_files()
    assert files, "sql/routines is empty"
    for path in files:
        rendered = sql_files.render(path.read_text(), values)
        assert "{{" not in rendered and "}}" not in rendered, path.name
        statements = sql_files.statements(rendered)
        assert statements, path.name
        for statement in statements:
            assert re.match(
                r"^((DROP|CREATE) (PROCEDURE|EVENT) |CREATE OR REPLACE SQL SECURITY INVOKER VIEW )",
                statement,
            ), f"{path.name}: unexpected statement {statement[:60]!r}"


def test_routine_values_round_event_intervals_up_and_keep_microseconds() -> None:
    values = routine_values(
        Settings(
            dead_peon_timeout=2.5,
            check_dead_peon_interval=1.2,
            backoff_multiplier_seconds=0.2,
        )
    )
    assert values["dead_peon_timeout_us"] == 2_500_000
    assert values["check_dead_peon_interval_s"] == 2
    assert values["backoff_multiplier_us"] == 200_000
    assert all(isinstance(v, int) for v in values.values())


def test_drop_and_bootstrap_scripts_split() -> None:
    drop = sql_files.statements((sql_files.sql_dir() / "drop.sql").read_text())
    assert "DROP TABLE IF EXISTS bountyboard" in drop
    assert all(s.startswith("DROP ") for s in drop)
    bootstrap = sql_files.statements((sql_files.sql_dir() / "schema_version.sql").read_text())
    assert len(bootstrap) == 1
    assert bootstrap[0].startswith("CREATE TABLE IF NOT EXISTS workcraft_schema")
