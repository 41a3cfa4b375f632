"""Aligned text tables for the CLI."""

from __future__ import annotations

from collections.abc import Callable, Sequence

__all__ = ["format_table"]


def format_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    style: Callable[[int, str], str] | None = None,
) -> str:
    """Columns padded to their widest cell. ``style(column, text)`` may wrap body cells
    in colour codes: it is applied after the widths are measured, so codes never
    misalign a column."""
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(
            (style(i, c) if style and n and c else c) + " " * (w - len(c))
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for n, row in enumerate(cells)
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
