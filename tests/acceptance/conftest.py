"""Fixtures for tests that run real peon processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import execute, wk_env
from tests.peons import peons  # noqa: F401  (fixture)
from workcraft.config import DBConfig, Settings

SIDE_EFFECTS_TABLE = """
CREATE TABLE IF NOT EXISTS side_effects (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    task_id CHAR(36) NOT NULL,
    attempt INT NOT NULL,
    worker VARCHAR(255) NOT NULL,
    pid INT NOT NULL,
    value TEXT,
    started DOUBLE NULL,
    ended DOUBLE NULL,
    KEY (task_id)
)
"""


@pytest.fixture
def peon_env(db_config: DBConfig, test_settings: Settings, tmp_path: Path) -> dict[str, str]:
    execute(db_config, SIDE_EFFECTS_TABLE)
    return wk_env(db_config, test_settings, tmp_path)
