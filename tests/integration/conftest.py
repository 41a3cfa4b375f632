"""Fixtures shared by integration tests that drive the store without any event running."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.helpers import execute
from workcraft import db, store
from workcraft.config import DBConfig


@pytest.fixture(scope="module")
def quiet_db(db_config: DBConfig) -> DBConfig:
    """This module's database with its maintenance events disabled."""
    with db.connect(db_config) as conn:
        names = [info.name for info in store.events(conn)]
        for name in names:
            conn.execute(text(f"ALTER EVENT `{name}` DISABLE"))
    assert names, "setup_database created no events to disable"
    return db_config


@pytest.fixture
def cfg(quiet_db: DBConfig) -> DBConfig:
    """The module's database, emptied of tasks and peons before each test."""
    execute(quiet_db, "DELETE FROM bountyboard", "DELETE FROM peon")
    return quiet_db
