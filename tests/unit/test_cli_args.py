"""The CLI keeps text flags exactly as typed (fire would read them as literals)."""

from __future__ import annotations

from workcraft.cli import _queue_list, _quote_text_flags


def test_text_flags_are_quoted_so_fire_keeps_them_as_typed() -> None:
    argv = [
        "peon",
        "--workcraft_path=example.workcraft",
        "--worker-id=0x10",
        "--db_password=1e5",
        "--db_name",
        "2024",
        "--concurrency=4",
        '--queues=["a","b"]',
    ]
    assert _quote_text_flags(argv) == [
        "peon",
        "--workcraft_path='example.workcraft'",
        "--worker-id='0x10'",
        "--db_password='1e5'",
        "--db_name",
        "'2024'",
        "--concurrency=4",
        '--queues=["a","b"]',
    ]


def test_a_password_with_quotes_survives_quoting() -> None:
    [quoted] = _quote_text_flags(['--db_password=it\'s "x"'])
    assert quoted == "--db_password=" + repr('it\'s "x"')


def test_queue_lists_accept_the_seed_list_form_and_commas() -> None:
    assert _queue_list(["A", "B"]) == ("A", "B")
    assert _queue_list("A, B,") == ("A", "B")
    assert _queue_list(("DEFAULT",)) == ("DEFAULT",)


def test_the_id_or_queue_of_cancel_pause_resume_stays_text() -> None:
    assert _quote_text_flags(["pause", "0x10"]) == ["pause", "'0x10'"]
    assert _quote_text_flags(["cancel", "1e5", "--read_from_env=False"]) == [
        "cancel",
        "'1e5'",
        "--read_from_env=False",
    ]
    assert _quote_text_flags(["resume", "--queue=007"]) == ["resume", "--queue='007'"]
