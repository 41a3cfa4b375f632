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


def test_only_first_hints_just_the_peon_whose_turn_it_is() -> None:
    # A send's early hint: one peon's claim waits on the INSERT, the rest hear of the
    # task after its commit (skip= the one already hinted).
    hinter = _RecordingHinter()
    peons = [WakeTarget(f"127.0.0.1:{port}", "t", frozenset({"q"})) for port in (1, 2, 3)]
    hinter.update(peons)
    chosen = []
    for _ in range(3):
        hinter.sent.clear()
        early = hinter.hint({"q": [0]}, early=True, task_id="x", only_first=True)
        assert hinter.sent == sorted(early)
        assert len(early) == 1
        chosen.append(hinter.sent[0])
        hinter.sent.clear()
        hinter.hint({"q": [0]}, task_id="x", skip=early)
        assert sorted(hinter.sent) == sorted({p.address for p in peons} - early)
    assert sorted(chosen) == sorted(p.address for p in peons)  # taking turns
