"""The benchmark suite of issue #6: workcraft against its peers on one machine.

Run it with ``.venv/bin/python bench/run.py [--quick]`` (or ``make bench`` /
``make bench-quick``); it writes ``bench/RESULTS.md`` and ``bench/results.png``.
Nothing here is imported by the workcraft package or run in CI.
"""
