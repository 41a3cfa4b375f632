"""TLS between workcraft and the database, against a private MariaDB/MySQL that serves it.

A throw-away CA signs a server certificate for 127.0.0.1 and localhost; a second,
unrelated CA stands for "the wrong CA". The server is a devdb instance of this module
alone (never the shared test server), stopped when the module ends.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pymysql
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import text

from tests.helpers import execute, query, run_cli, temporary_user, unique_database_name, wk_env
from tests.peons import TASKAPPS, PeonProcess
from workcraft import Workcraft, db, devdb, doctor
from workcraft.config import DBConfig, Settings
from workcraft.schema import setup_database

_START_TIMEOUT = 120.0

# ------------------------------------------------------------------ certificates


@dataclass(frozen=True)
class _Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _validity(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return builder.not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(
        now + datetime.timedelta(days=1)
    )


def _make_ca(common_name: str) -> _Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return _Issued(_validity(builder).sign(key, hashes.SHA256()), key)


def _make_server_cert(ca: _Issued, dns: list[str], ips: list[str]) -> _Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name("workcraft test server"))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    return _Issued(_validity(builder).sign(ca.key, hashes.SHA256()), key)


def _write_cert(path: Path, issued: _Issued) -> Path:
    path.write_bytes(issued.cert.public_bytes(serialization.Encoding.PEM))
    return path


def _write_key(path: Path, issued: _Issued) -> Path:
    path.write_bytes(
        issued.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return path


@dataclass(frozen=True)
class Certs:
    ca: Path  # the CA that signed both server certificates
    ca_dir: Path  # a folder holding only ca.pem (the WK_DB_SSL_PATH folder form)
    wrong_ca: Path  # an unrelated CA
    server: devdb.TLSFiles  # names 127.0.0.1 and localhost
    misnamed: devdb.TLSFiles  # names only db.example.test


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    root = tmp_path_factory.mktemp("certs")
    ca = _make_ca("workcraft test CA")
    wrong = _make_ca("workcraft unrelated CA")
    server = _make_server_cert(ca, ["localhost"], ["127.0.0.1"])
    misnamed = _make_server_cert(ca, ["db.example.test"], [])
    ca_dir = root / "ca-dir"
    ca_dir.mkdir()
    ca_file = _write_cert(root / "ca.pem", ca)
    shutil.copy(ca_file, ca_dir / "ca.pem")
    return Certs(
        ca=ca_file,
        ca_dir=ca_dir,
        wrong_ca=_write_cert(root / "wrong-ca.pem", wrong),
        server=devdb.TLSFiles(
            ca=ca_file,
            cert=_write_cert(root / "server-cert.pem", server),
            key=_write_key(root / "server-key.pem", server),
        ),
        misnamed=devdb.TLSFiles(
            ca=ca_file,
            cert=_write_cert(root / "misnamed-cert.pem", misnamed),
            key=_write_key(root / "misnamed-key.pem", misnamed),
        ),
    )


# ------------------------------------------------------------------------ servers


def _require_server() -> None:
    try:
        devdb.find_server_binary()
    except devdb.DevDBError as exc:
        if os.environ.get("CI", "").strip().lower() in {"true", "1"}:
            pytest.fail(f"CI must provide a MariaDB/MySQL server: {exc}")
        pytest.skip(str(exc))


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short path in /tmp, so the server's socket fits in its data dir; whatever
    server runs in ``<it>/db`` is stopped when the test ends."""
    _require_server()
    root = Path(tempfile.mkdtemp(prefix="wk-tls-"))
    try:
        yield root
    finally:
        try:
            devdb.stop(root / "db")
            assert devdb.status(root / "db") is None
        finally:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def tls_server(certs: Certs) -> Iterator[devdb.DevDBInfo]:
    _require_server()
    root = Path(tempfile.mkdtemp(prefix="wk-tls-"))
    try:
        yield devdb.start(root / "db", timeout=_START_TIMEOUT, tls=certs.server)
    finally:
        try:
            db.close_pools()
            devdb.stop(root / "db")
        finally:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def admin(tls_server: devdb.DevDBInfo, certs: Certs) -> DBConfig:
    """Root on the TLS server, connecting with WK_DB_USE_SSL=true and the right CA."""
    return DBConfig(
        host=tls_server.host,
        port=tls_server.port,
        user=tls_server.user,
        password=tls_server.password,
        database=tls_server.database,
        use_ssl=True,
        ssl_path=str(certs.ca),
    )


@pytest.fixture(scope="module")
def tls_db(admin: DBConfig, test_settings: Settings) -> DBConfig:
    """A workcraft database on the TLS server, set up over TLS."""
    cfg = admin.with_database(unique_database_name("tls"))
    report = setup_database(cfg, test_settings)
    assert report.version_after
    return cfg


def _session_tls(cfg: DBConfig) -> tuple[str, str]:
    """The session's (Ssl_cipher, Ssl_version): empty strings when it is not encrypted."""
    with db.connect(cfg) as conn:
        rows = conn.execute(text("SHOW SESSION STATUS LIKE 'Ssl\\_%'")).all()
    status = {str(name): str(value or "") for name, value in rows}
    return status.get("Ssl_cipher", ""), status.get("Ssl_version", "")


def _failure(cfg: DBConfig) -> db.DatabaseError:
    with pytest.raises(db.DatabaseError) as caught, db.connect(cfg):
        pass
    return caught.value


# -------------------------------------------------------------------------- tests


def test_server_reports_tls_and_hands_out_tls_settings(
    tls_server: devdb.DevDBInfo, certs: Certs
) -> None:
    assert tls_server.tls == certs.server
    assert devdb.status(tls_server.data_dir) == tls_server
    lines = tls_server.env_lines().splitlines()
    assert "WK_DB_USE_SSL=true" in lines
    assert f'WK_DB_SSL_PATH="{certs.ca}"' in lines
    from_url = DBConfig.from_url(tls_server.url())
    assert from_url.use_ssl and from_url.ssl_path == str(certs.ca)
    assert _session_tls(from_url)[0]


def test_ca_file_and_ca_folder_both_give_an_encrypted_session(
    admin: DBConfig, certs: Certs
) -> None:
    cipher, version = _session_tls(admin)
    assert cipher, "the session is not encrypted"
    assert version.startswith("TLSv1.")
    folder = replace(admin, ssl_path=str(certs.ca_dir))
    assert _session_tls(folder)[0]


def test_setup_doctor_and_a_peon_work_over_tls(
    admin: DBConfig, tls_db: DBConfig, test_settings: Settings, tmp_path: Path
) -> None:
    checks = doctor.run_checks(tls_db, test_settings)
    assert [c for c in checks if c.outcome == "fail"] == [], checks
    assert checks[0].name == "connection" and checks[0].outcome == "ok"

    # An account that may log in only over TLS proves the peon's sessions are encrypted.
    with temporary_user(admin, tls_db.database) as peon_cfg:
        execute(admin, f"ALTER USER '{peon_cfg.user}'@'%' REQUIRE SSL")
        env = wk_env(peon_cfg, test_settings, tmp_path)
        assert env["WK_DB_USE_SSL"] == "true" and env["WK_DB_SSL_PATH"] == admin.ssl_path
        peon = PeonProcess(tls_db, env, "tls-peon", tmp_path, cwd=TASKAPPS)
        try:
            peon.start().wait_ready(timeout=60)
            app = Workcraft(db_config=tls_db)
            task_id = app.send_task_sync("add", [2, 3])
            assert app.get_result_sync(task_id, timeout=60) == 5
            rows = query(
                tls_db, "SELECT status, worker_id FROM bountyboard WHERE id = :id", {"id": task_id}
            )
            assert (rows[0].status, rows[0].worker_id) == ("SUCCESS", "tls-peon")
        finally:
            peon.kill()
        assert "Traceback" not in peon.log(), peon.log()


def test_without_tls_settings_a_session_is_still_encrypted_when_the_server_offers_it(
    admin: DBConfig,
) -> None:
    # PyMySQL's PREFERRED mode, kept by our own connections: they share one context,
    # without the CA store PyMySQL would load per connection and never consult.
    plain = replace(admin, use_ssl=False, ssl_path=None)
    assert _session_tls(plain)[0], "the session is not encrypted"
    with db.connect(plain) as one, db.connect(plain, with_database=False) as other:
        assert one.raw.ctx is other.raw.ctx
        assert one.raw.ctx.cert_store_stats()["x509_ca"] == 0


def test_wrong_ca_fails_at_once_naming_the_fix(admin: DBConfig, certs: Certs) -> None:
    wrong = replace(admin, ssl_path=str(certs.wrong_ca))
    attempts = 0

    def attempt() -> None:
        nonlocal attempts
        attempts += 1
        with db.connect(wrong):
            pass

    with pytest.raises(db.DatabaseError) as caught:
        db.retry_transient(attempt, what="connect with the wrong CA")
    error = caught.value
    assert attempts == 1, "a certificate that is not trusted must not be retried"
    assert not db.is_transient(error)
    message = str(error)
    assert "TLS certificate" in message and "not trusted" in message
    assert f"WK_DB_SSL_PATH ({certs.wrong_ca})" in message
    assert "point WK_DB_SSL_PATH at the CA that signed the server certificate" in message
    assert admin.password and admin.password not in message

    no_ca = replace(admin, ssl_path=None)
    assert "this machine's default CAs" in str(_failure(no_ca))


def test_cli_with_the_wrong_ca_exits_with_one_clear_line(
    tls_db: DBConfig, certs: Certs, test_settings: Settings, tmp_path: Path
) -> None:
    env = wk_env(replace(tls_db, ssl_path=str(certs.wrong_ca)), test_settings, tmp_path)
    assert env["WK_DB_USE_SSL"] == "true"

    verify = run_cli(["verify"], env, tmp_path, timeout=60)
    assert verify.returncode != 0, verify
    assert "Traceback" not in verify.output, verify
    failing = [line for line in verify.output.splitlines() if "not trusted" in line]
    assert len(failing) == 1, verify
    assert str(certs.wrong_ca) in failing[0]

    # A peon must not wait forever for a certificate that will never be trusted.
    peon = run_cli(["peon", "--workcraft_path=lifecycle_app.app"], env, TASKAPPS, timeout=60)
    assert peon.returncode != 0, peon
    assert "Traceback" not in peon.output, peon
    errors = [line for line in peon.output.splitlines() if "not trusted" in line]
    assert len(errors) == 1, peon
    assert tls_db.password and tls_db.password not in verify.output + peon.output


def test_account_requiring_tls_refuses_a_plain_session(admin: DBConfig) -> None:
    with temporary_user(admin, admin.database) as account:
        execute(admin, f"ALTER USER '{account.user}'@'%' REQUIRE SSL")
        assert _session_tls(account)[0]
        with pytest.raises(pymysql.err.OperationalError) as refused:
            pymysql.connect(
                host=account.host,
                port=account.port,
                user=account.user,
                password=account.password,
                ssl_disabled=True,
                connect_timeout=10,
            )
        assert refused.value.args[0] == 1045
        plain = replace(account, use_ssl=False, ssl_path=None)
        message = str(db.explain(refused.value, plain))
        assert "access denied" in message and "WK_DB_USE_SSL=true" in message
        assert account.password and account.password not in message


def test_restarts_switch_tls_and_each_mismatch_names_its_fix(short_dir: Path, certs: Certs) -> None:
    data_dir = short_dir / "db"
    misnamed = devdb.start(data_dir, timeout=_START_TIMEOUT, tls=certs.misnamed)
    assert misnamed.tls == certs.misnamed
    with pytest.raises(devdb.DevDBError, match="stop"):
        devdb.start(data_dir, tls=certs.server)
    cfg = DBConfig(
        host=misnamed.host,
        port=misnamed.port,
        user=misnamed.user,
        password=misnamed.password,
        database=misnamed.database,
        use_ssl=True,
        ssl_path=str(certs.ca),
    )
    error = _failure(cfg)
    message = str(error)
    assert "not valid for WK_DB_HOST '127.0.0.1'" in message
    assert "it names db.example.test" in message
    assert not db.is_transient(error)
    assert cfg.password and cfg.password not in message

    assert devdb.stop(data_dir)
    plain = devdb.start(data_dir, timeout=_START_TIMEOUT)
    assert plain.tls is None
    assert devdb.status(data_dir) == plain
    assert "WK_DB_USE_SSL=" in plain.env_lines().splitlines()
    error = _failure(replace(cfg, port=plain.port))
    assert error.code == 2026
    assert "does not offer TLS" in str(error) and "WK_DB_USE_SSL" in str(error)
    assert not db.is_transient(error)

    assert devdb.stop(data_dir)
    again = devdb.start(data_dir, timeout=_START_TIMEOUT, tls=certs.server)
    assert again.tls == certs.server and again.password == plain.password
    assert _session_tls(replace(cfg, port=again.port))[0]


def test_start_refuses_files_that_are_not_a_certificate_and_its_key(
    short_dir: Path, certs: Certs
) -> None:
    mixed = devdb.TLSFiles(ca=certs.ca, cert=certs.server.cert, key=certs.misnamed.key)
    with pytest.raises(devdb.DevDBError, match="private key"):
        devdb.start(short_dir / "db", tls=mixed)
    missing = replace(certs.server, ca=short_dir / "nowhere.pem")
    with pytest.raises(devdb.DevDBError, match="not a file"):
        devdb.start(short_dir / "db", tls=missing)
    assert not (short_dir / "db").exists()
