"""Passwords never reach logs, reprs, exceptions or CLI output.

A dedicated account with a distinctive password is created for this module, so the
password being looked for is one no other code path knows by accident.
"""

from __future__ import annotations

import logging
import secrets
import traceback
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from loguru import logger

from tests.helpers import drop_test_database, run_cli, temporary_user, unique_database_name, wk_env
from workcraft import doctor
from workcraft.config import DBConfig, Settings
from workcraft.db import DatabaseError
from workcraft.schema import setup_database

RIGHT = f"Wct-Secret-{secrets.token_hex(8)}"
WRONG = f"Wct-Wrong-{secrets.token_hex(8)}"


class Evidence:
    """Everything a user or an operator could get to see."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def add(self, *items: object) -> None:
        for item in items:
            self.texts.append(str(item))
            self.texts.append(repr(item))

    def add_exception(self, exc: BaseException) -> None:
        self.add(exc)
        self.texts.append("".join(traceback.format_exception(exc)))
        cause = exc.__cause__ or exc.__context__
        if cause is not None and not exc.__suppress_context__:
            self.add(cause)

    def assert_clean(self) -> None:
        assert self.texts, "nothing was captured"
        for text in self.texts:
            for secret in (RIGHT, WRONG):
                assert secret not in text, f"password leaked in: {text[:400]}"


@pytest.fixture
def evidence(caplog: pytest.LogCaptureFixture) -> Iterator[Evidence]:
    """Loguru (plain and serialized sinks, at every level) and stdlib logging."""
    found = Evidence()
    plain = logger.add(
        lambda m: found.texts.append(str(m)),
        level="TRACE",
        format="{level} {name}:{function} {message} {extra} {exception}",
        backtrace=False,
        diagnose=False,
    )
    as_json = logger.add(
        lambda m: found.texts.append(str(m)), level="TRACE", serialize=True, diagnose=False
    )
    caplog.set_level(logging.DEBUG)
    try:
        yield found
    finally:
        logger.remove(plain)
        logger.remove(as_json)
        found.texts.append(caplog.text)
        found.texts.extend(r.getMessage() for r in caplog.records)


@pytest.fixture
def secret_target(db_server: DBConfig) -> Iterator[DBConfig]:
    """A database that does not exist yet, and an account that may create it."""
    database = unique_database_name("secrets")
    try:
        with temporary_user(
            db_server, database, "ALL PRIVILEGES", password=RIGHT, prefix="wct_secret_"
        ) as cfg:
            yield cfg
    finally:
        drop_test_database(db_server, database)


def test_a_wrong_password_in_setup_and_doctor_is_never_shown(
    secret_target: DBConfig, test_settings: Settings, evidence: Evidence
) -> None:
    wrong = replace(secret_target, password=WRONG)
    evidence.add(wrong, secret_target)

    with pytest.raises(DatabaseError) as info:
        setup_database(wrong, test_settings)
    evidence.add_exception(info.value)
    assert "WK_DB_PASS" in str(info.value)
    assert info.value.code == 1045

    checks = doctor.run_checks(wrong, test_settings)
    evidence.add(checks, *checks)
    assert checks[0].outcome == "fail"
    assert "WK_DB_PASS" in checks[0].detail

    evidence.assert_clean()


def test_a_successful_setup_and_doctor_never_show_the_password(
    secret_target: DBConfig, test_settings: Settings, evidence: Evidence
) -> None:
    report = setup_database(secret_target, test_settings)
    evidence.add(report, secret_target)
    assert report.version_after >= 2

    checks = doctor.run_checks(secret_target, test_settings)
    evidence.add(checks, *checks)
    assert {c.name: c.outcome for c in checks}["schema"] == "ok"
    assert secret_target.user in checks[0].detail

    evidence.assert_clean()


def test_the_cli_never_prints_the_password(
    secret_target: DBConfig, test_settings: Settings, tmp_path: Path
) -> None:
    outputs = []
    env = wk_env(secret_target, test_settings, tmp_path)
    setup = run_cli(["setup_database_tables"], env, tmp_path)
    assert setup.returncode == 0, setup
    outputs.append(setup.output)

    verify = run_cli(["verify"], env, tmp_path)
    assert verify.returncode in (0, 1), verify
    assert "schema" in verify.stdout
    outputs.append(verify.output)

    wrong = run_cli(["verify"], {**env, "WK_DB_PASS": WRONG}, tmp_path)
    assert wrong.returncode == 1, wrong
    assert "WK_DB_PASS" in wrong.output
    outputs.append(wrong.output)

    flags = run_cli(
        [
            "setup_database_tables",
            "--read_from_env=False",
            f"--db_host={secret_target.host}",
            f"--db_port={secret_target.port}",
            f"--db_user={secret_target.user}",
            f"--db_name={secret_target.database}",
            f"--db_password={WRONG}",
        ],
        env,
        tmp_path,
    )
    assert flags.returncode == 2, flags
    assert "access denied" in flags.stderr
    outputs.append(flags.output)

    for output in outputs:
        assert RIGHT not in output
        assert WRONG not in output
