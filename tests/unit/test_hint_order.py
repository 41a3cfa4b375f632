"""Wake-up hints take turns: each send hints a different peon first."""

from __future__ import annotations

from workcraft.wakeup import Hinter, WakeTarget


class _RecordingHinter(Hinter):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []

    def _send(self, target: WakeTarget, queue: str, due_ms: int, early: bool, task_id: str) -> None:
        self.sent.append(target.address)


def test_each_send_hints_the_next_peon_first_and_still_hints_them_all() -> None:
    hinter = _RecordingHinter()
    peons = [WakeTarget(f"127.0.0.1:{port}", "t", frozenset({"q"})) for port in (1, 2, 3)]
    hinter.update([*peons, WakeTarget("127.0.0.1:4", "t", frozenset({"other"}))])
    firsts = []
    for _ in range(6):
        hinter.sent.clear()
        hinted = hinter.hint({"q": [0]})
        assert sorted(hinter.sent) == sorted(p.address for p in peons)  # all, once
        assert hinted == {p.address for p in peons}
        firsts.append(hinter.sent[0])
    assert firsts == [p.address for p in peons] * 2
