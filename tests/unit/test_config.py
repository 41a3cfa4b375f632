"""DBConfig and Settings: where configuration comes from, and the errors users see."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from workcraft.config import (
    CONFIG_FILE_ENV,
    CONFIG_FILE_NAME,
    ConfigError,
    DBConfig,
    Settings,
    get_db_config,
    load_settings,
)

SECRET = "s3cr3t-Pa55-word-Zq"

FULL_ENV = {
    "WK_DB_HOST": "db.internal",
    "WK_DB_PORT": "3307",
    "WK_DB_USER": "alice",
    "WK_DB_PASS": SECRET,
    "WK_DB_NAME": "jobs",
    "WK_DB_USE_SSL": "",
    "WK_DB_SSL_PATH": "",
}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No WK_* variables, and an empty working directory."""
    for key in list(os.environ):
        if key.startswith("WK_"):
            monkeypatch.delenv(key)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


# ------------------------------------------------------------------------ DBConfig


def test_repr_and_str_hide_the_password() -> None:
    cfg = DBConfig(host="h", port=3306, user="u", password=SECRET, database="d")
    for shown in (repr(cfg), str(cfg), cfg.describe(), f"{cfg}", repr([cfg])):
        assert SECRET not in shown
    assert "password='***'" in repr(cfg)
    assert cfg.describe() == "u@h:3306/d"
    assert repr(DBConfig(password=None)).count("password=None") == 1


def test_with_database_keeps_everything_else() -> None:
    cfg = DBConfig(host="h", port=1234, user="u", password=SECRET, database="a")
    other = cfg.with_database("b")
    assert (other.host, other.port, other.user, other.password, other.database) == (
        "h",
        1234,
        "u",
        SECRET,
        "b",
    )


def test_from_url_parses_every_part(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not really a certificate")
    cfg = DBConfig.from_url(f"mysql+pymysql://alice:p%40ss%3Aw@db.example:3307/jobs?ssl_ca={ca}")
    assert cfg.host == "db.example"
    assert cfg.port == 3307
    assert cfg.user == "alice"
    assert cfg.password == "p@ss:w"
    assert cfg.database == "jobs"
    assert cfg.use_ssl is True
    assert cfg.ssl_path == str(ca)


def test_from_url_defaults_and_plain_scheme() -> None:
    cfg = DBConfig.from_url("mysql://bob@localhost/")
    assert (cfg.host, cfg.port, cfg.user, cfg.password, cfg.database, cfg.use_ssl) == (
        "localhost",
        3306,
        "bob",
        None,
        "workcraft",
        False,
    )


def test_from_url_rejects_another_scheme() -> None:
    with pytest.raises(ConfigError, match=r"mysql://.*'postgresql'"):
        DBConfig.from_url("postgresql://u:p@h/db")


def test_from_env_reads_every_key() -> None:
    cfg = DBConfig.from_env(FULL_ENV)
    assert cfg == DBConfig(
        host="db.internal", port=3307, user="alice", password=SECRET, database="jobs"
    )


def test_from_env_with_nothing_says_what_to_create() -> None:
    with pytest.raises(ConfigError) as info:
        DBConfig.from_env({"PATH": "/bin"})
    message = str(info.value)
    assert ".env" in message
    for key in ("WK_DB_HOST", "WK_DB_PORT", "WK_DB_USER", "WK_DB_PASS", "WK_DB_NAME"):
        assert key in message
    assert "read_from_env=False" in message


def test_from_env_without_password_names_the_key_and_the_fix() -> None:
    env = {k: v for k, v in FULL_ENV.items() if k != "WK_DB_PASS"}
    with pytest.raises(ConfigError) as info:
        DBConfig.from_env(env)
    assert "WK_DB_PASS is missing" in str(info.value)
    assert "WK_DB_PASS=" in str(info.value)


def test_an_empty_password_is_allowed() -> None:
    assert DBConfig.from_env({**FULL_ENV, "WK_DB_PASS": ""}).password == ""


def test_from_env_port_must_be_a_number() -> None:
    with pytest.raises(ConfigError) as info:
        DBConfig.from_env({**FULL_ENV, "WK_DB_PORT": "33o6"})
    assert "WK_DB_PORT must be a number" in str(info.value)
    assert "'33o6'" in str(info.value)


def test_from_env_port_must_be_a_tcp_port() -> None:
    with pytest.raises(ConfigError, match="WK_DB_PORT"):
        DBConfig.from_env({**FULL_ENV, "WK_DB_PORT": "70000"})


@pytest.mark.parametrize("value", ["maybe", "2", "enabled"])
def test_from_env_use_ssl_must_be_a_boolean(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        DBConfig.from_env({**FULL_ENV, "WK_DB_USE_SSL": value})
    assert "WK_DB_USE_SSL must be true or false" in str(info.value)
    assert repr(value) in str(info.value)


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("1", True), ("no", False)])
def test_from_env_use_ssl_values(value: str, expected: bool) -> None:
    assert DBConfig.from_env({**FULL_ENV, "WK_DB_USE_SSL": value}).use_ssl is expected


@pytest.mark.parametrize(
    "name", ["jobs'; DROP DATABASE x; --", "jobs;", "a`b", "with space", "x" * 65, "jobs-1"]
)
def test_database_names_that_could_carry_sql_are_rejected(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        DBConfig.from_env({**FULL_ENV, "WK_DB_NAME": name})
    message = str(info.value)
    assert "WK_DB_NAME" in message
    assert "letters, digits or underscores" in message


def test_missing_ssl_path_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"WK_DB_SSL_PATH.*does not exist.*CA certificate"):
        DBConfig.from_env({**FULL_ENV, "WK_DB_SSL_PATH": str(tmp_path / "nope.pem")})


def test_dotenv_is_found_in_the_working_directory(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (clean_env / ".env").write_text(
        "\n".join(f'{k}="{v}"' for k, v in FULL_ENV.items()) + "\n", encoding="utf-8"
    )
    cfg = get_db_config()
    assert cfg == DBConfig(
        host="db.internal", port=3307, user="alice", password=SECRET, database="jobs"
    )
    # the process environment overrides a single key of the file
    monkeypatch.setenv("WK_DB_NAME", "other")
    assert get_db_config().database == "other"
    assert get_db_config().user == "alice"


def test_dotenv_in_a_parent_of_the_working_directory_is_found(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (clean_env / ".env").write_text("WK_DB_PASS=x\nWK_DB_NAME=from_parent\n")
    sub = clean_env / "sub"
    sub.mkdir()
    monkeypatch.chdir(sub)
    assert get_db_config().database == "from_parent"


def test_no_dotenv_and_no_environment_is_a_clear_error(clean_env: Path) -> None:
    with pytest.raises(ConfigError, match="no database settings found"):
        get_db_config()


# ------------------------------------------------------------------------ Settings


def test_settings_defaults() -> None:
    s = Settings()
    assert s.peon_heartbeat_interval == 5.0
    assert s.polling_interval == 1.0
    assert s.dead_peon_timeout == 60.0
    assert s.max_peon_deaths_per_task == 5
    assert Settings.from_mapping({}) == s
    assert set(s.to_json_dict()) == set(Settings.keys())
    assert Settings.from_mapping(s.to_json_dict()) == s


def test_settings_accept_fractions_of_a_second() -> None:
    s = Settings.from_mapping(
        {"DB_PEON_HEARTBEAT_INTERVAL": 0.2, "DB_POLLING_INTERVAL": 0.05}, source="x.json"
    )
    assert s.peon_heartbeat_interval == 0.2
    assert s.polling_interval == 0.05


def test_settings_whole_numbers_are_accepted_for_intervals() -> None:
    s = Settings.from_mapping({"DB_SETUP_WAIT_TIME_BEFORE_WORKER_DECLARED_DEAD": 2})
    assert s.dead_peon_timeout == 2.0
    assert isinstance(s.dead_peon_timeout, float)


def test_unknown_setting_lists_a_did_you_mean() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_mapping({"DB_PEON_HEARTBEAT_INTERVALL": 1}, source="workcraft.config.json")
    message = str(info.value)
    assert "workcraft.config.json" in message
    assert "'DB_PEON_HEARTBEAT_INTERVALL'" in message
    assert "did you mean 'DB_PEON_HEARTBEAT_INTERVAL'?" in message
    assert "DB_POLLING_INTERVAL" in message  # the valid keys are listed


@pytest.mark.parametrize("value", ["5", True, None, [1]])
def test_setting_of_the_wrong_type_names_the_key(value: object) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_mapping({"DB_POLLING_INTERVAL": value}, source="cfg.json")
    message = str(info.value)
    assert "cfg.json: DB_POLLING_INTERVAL must be a number of seconds" in message
    assert repr(value) in message


def test_whole_number_setting_rejects_a_fraction() -> None:
    with pytest.raises(ConfigError, match="DB_SETUP_MAX_PEON_DEATHS_PER_TASK must be a whole"):
        Settings.from_mapping({"DB_SETUP_MAX_PEON_DEATHS_PER_TASK": 2.5})
    s = Settings.from_mapping({"DB_SETUP_MAX_PEON_DEATHS_PER_TASK": 3.0})
    assert s.max_peon_deaths_per_task == 3
    assert isinstance(s.max_peon_deaths_per_task, int)


@pytest.mark.parametrize(
    ("key", "value", "minimum"),
    [
        ("DB_PEON_HEARTBEAT_INTERVAL", -1, "0.05"),
        ("DB_POLLING_INTERVAL", 0, "0.01"),
        ("DB_SETUP_CHECK_DEAD_WORKER_INTERVAL", 0.5, "1"),
        ("DB_SETUP_MAX_PEON_DEATHS_PER_TASK", 0, "1"),
        ("DB_SETUP_BACKOFF_MAX_SECONDS", float("nan"), "0"),
    ],
)
def test_setting_below_its_minimum_is_rejected(key: str, value: float, minimum: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_mapping({key: value})
    assert f"{key} must be at least {minimum}," in str(info.value)


def test_settings_file_must_hold_an_object() -> None:
    with pytest.raises(ConfigError, match=r"x\.json: expected a JSON object"):
        Settings.from_mapping([1, 2], source="x.json")  # type: ignore[arg-type]


def test_load_settings_from_the_file_named_by_the_environment(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    named = tmp_path / "elsewhere.json"
    named.write_text(json.dumps({"DB_PEON_HEARTBEAT_INTERVAL": 0.2}))
    # a file in the cwd must lose against the one named by WK_CONFIG_FILE
    (clean_env / CONFIG_FILE_NAME).write_text(json.dumps({"DB_PEON_HEARTBEAT_INTERVAL": 7}))
    monkeypatch.setenv(CONFIG_FILE_ENV, str(named))
    assert load_settings().peon_heartbeat_interval == 0.2


def test_load_settings_from_the_working_directory(clean_env: Path) -> None:
    (clean_env / CONFIG_FILE_NAME).write_text(
        json.dumps({"DB_POLLING_INTERVAL": 0.25, "DB_SETUP_MAX_PEON_DEATHS_PER_TASK": 9})
    )
    s = load_settings()
    assert s.polling_interval == 0.25
    assert s.max_peon_deaths_per_task == 9
    assert s.peon_heartbeat_interval == Settings().peon_heartbeat_interval


def test_no_settings_file_means_defaults(clean_env: Path) -> None:
    assert load_settings() == Settings()


def test_a_named_but_missing_settings_file_is_an_error(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = clean_env / "missing.json"
    monkeypatch.setenv(CONFIG_FILE_ENV, str(missing))
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(missing) in str(info.value)
    assert "does not exist" in str(info.value)
    assert CONFIG_FILE_ENV in str(info.value)

    monkeypatch.delenv(CONFIG_FILE_ENV)
    with pytest.raises(ConfigError, match=r"does not exist.*the path argument"):
        load_settings(missing)


def test_invalid_json_names_the_file(clean_env: Path) -> None:
    (clean_env / CONFIG_FILE_NAME).write_text('{"DB_POLLING_INTERVAL": 1,}')
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert CONFIG_FILE_NAME in str(info.value)
    assert "not valid JSON" in str(info.value)
    assert "line 1" in str(info.value)


def test_unknown_key_in_the_file_names_file_and_key(clean_env: Path) -> None:
    (clean_env / CONFIG_FILE_NAME).write_text(json.dumps({"DB_POLING_INTERVAL": 1}))
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert CONFIG_FILE_NAME in message
    assert "'DB_POLING_INTERVAL' (did you mean 'DB_POLLING_INTERVAL'?)" in message
