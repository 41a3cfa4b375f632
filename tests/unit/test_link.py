"""workcraft.link without a database: statements keep SQLAlchemy's text() meaning."""

from __future__ import annotations

import pytest

from workcraft.link import NoResultError, Result, _row_class, bindparam, text


@pytest.mark.parametrize(
    ("sql", "pyformat"),
    [
        ("SELECT * FROM t WHERE id = :id", "SELECT * FROM t WHERE id = %(id)s"),
        ("a = :a AND b IN :bs", "a = %(a)s AND b IN %(bs)s"),
        # a '%' is literal, as in text(); the driver's format needs it doubled
        ("name LIKE 'wc\\_%' AND n = :n", "name LIKE 'wc\\_%%' AND n = %(n)s"),
        # not parameters: a time literal, a double colon, an escaped colon
        ("SELECT '12:30', x::y, '\\:literal'", "SELECT '12:30', x::y, ':literal'"),
        ("INTERVAL :after_us MICROSECOND", "INTERVAL %(after_us)s MICROSECOND"),
    ],
)
def test_parameters_become_the_drivers_as_text_reads_them(sql: str, pyformat: str) -> None:
    assert text(sql).pyformat == pyformat


def test_a_statement_turns_into_the_same_text_clause_for_sqlalchemy() -> None:
    statement = text("SELECT id FROM t WHERE id IN :ids AND q = :q").bindparams(bindparam("ids"))
    clause = statement.clause()
    assert clause.text == statement.text
    assert clause._bindparams["ids"].expanding
    assert not clause._bindparams["q"].expanding
    assert statement.clause() is clause  # built once


def test_only_list_parameters_are_declared() -> None:
    with pytest.raises(ValueError, match="expanding"):
        bindparam("id", expanding=False)


def test_rows_read_by_index_by_name_and_as_a_mapping() -> None:
    row_type = _row_class(("id", "COUNT(*)", "status"))
    row = tuple.__new__(row_type, ("t1", 3, "PENDING"))
    task_id, count, status = row
    assert (task_id, count, status) == ("t1", 3, "PENDING")
    assert row.id == "t1" and row.status == "PENDING" and row[1] == 3
    assert row._mapping == {"id": "t1", "COUNT(*)": 3, "status": "PENDING"}
    assert _row_class(("id", "COUNT(*)", "status")) is row_type


def test_a_result_answers_as_sqlalchemys_does() -> None:
    row_type = _row_class(("n",))
    rows = [tuple.__new__(row_type, (1,)), tuple.__new__(row_type, (2,))]
    result = Result(rows, 2)
    assert result.first().n == 1 and result.scalar() == 1 and result.rowcount == 2
    assert [r.n for r in result] == [1, 2] and result.all() == rows
    assert result.mappings().all() == [{"n": 1}, {"n": 2}]
    with pytest.raises(NoResultError):
        result.scalar_one()
    assert Result([], 0).first() is None and Result([], 0).scalar() is None
    with pytest.raises(NoResultError):
        Result([], 0).one()
