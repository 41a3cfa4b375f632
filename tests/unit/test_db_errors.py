"""Error classification reads our connections' PyMySQL errors and SQLAlchemy's
wrappers alike, whatever driver a caller's own Connection uses."""

from __future__ import annotations

import pymysql
import pytest
from sqlalchemy import exc as sa_exc

from workcraft import db


class _OtherDriverError(Exception):
    """A DB-API base class of another driver (mysqlclient's, say)."""


class IntegrityError(_OtherDriverError):  # the DB-API names SQLAlchemy maps by
    pass


class OperationalError(_OtherDriverError):
    pass


class InterfaceError(_OtherDriverError):
    pass


def _wrapped(orig: Exception) -> BaseException:
    base = pymysql.err.Error if isinstance(orig, pymysql.err.Error) else _OtherDriverError
    return sa_exc.DBAPIError.instance(None, None, orig, base, hide_parameters=True)


# Our Links raise PyMySQL's errors as they are; a caller's Connection (SQLAlchemy)
# wraps its driver's, PyMySQL's or another's.
_KINDS = {
    "pymysql, ours": (pymysql.err, lambda e: e),
    "pymysql, wrapped by SQLAlchemy": (pymysql.err, _wrapped),
    "another driver, wrapped by SQLAlchemy": (None, _wrapped),
}


@pytest.mark.parametrize("kind", list(_KINDS))
def test_duplicates_and_transient_errors_are_told_apart(kind: str) -> None:
    module, wrap = _KINDS[kind]
    integrity = getattr(module, "IntegrityError", IntegrityError)
    operational = getattr(module, "OperationalError", OperationalError)
    interface = getattr(module, "InterfaceError", InterfaceError)
    duplicate = wrap(integrity(1062, "Duplicate entry 'x' for key 'PRIMARY'"))
    deadlock = wrap(operational(1213, "Deadlock found"))
    closed = wrap(interface(0, ""))
    syntax = wrap(operational(1064, "You have an error in your SQL syntax"))

    assert db.is_duplicate_key(duplicate) and not db.is_duplicate_key(deadlock)
    assert db.error_code(deadlock) == 1213
    assert db.is_transient(deadlock) and db.is_transient(closed)
    assert not db.is_transient(syntax) and not db.is_transient(duplicate)
    assert all(isinstance(e, db.driver_errors()) for e in (duplicate, deadlock, closed, syntax))


def test_our_own_error_keeps_its_code() -> None:
    error = db.DatabaseError("cannot reach the database", 2003)
    assert db.error_code(error) == 2003 and db.is_transient(error)
    assert isinstance(error, db.database_errors()) and not isinstance(error, db.driver_errors())
