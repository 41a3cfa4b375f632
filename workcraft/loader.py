"""Finding the user's Workcraft instance from ``--workcraft_path``."""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workcraft.core import Workcraft

__all__ = ["load_workcraft"]


class LoadError(ImportError):
    """The path does not lead to a Workcraft instance. The message says what is there."""


def load_workcraft(path: str) -> Workcraft:
    """Import ``module.attribute`` or ``module:attribute`` and return the instance."""
    from workcraft.core import Workcraft

    if ":" in path:
        module_name, _, attribute = path.partition(":")
    else:
        module_name, _, attribute = path.rpartition(".")
    if not module_name or not attribute:
        raise LoadError(
            f"--workcraft_path {path!r} must look like module.attribute or module:attribute "
            "(e.g. example.workcraft)"
        )
    # The console script does not put the working directory on sys.path the way
    # `python -m` does; users expect their project's modules to be found either way.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise LoadError(
                f"cannot import {module_name!r} for --workcraft_path {path!r}: no such module "
                f"(working directory {os.getcwd()})"
            ) from None
        raise
    instance = getattr(module, attribute, None)
    if isinstance(instance, Workcraft):
        return instance
    found = sorted(n for n, v in vars(module).items() if isinstance(v, Workcraft))
    if found:
        there = f"its Workcraft instance(s): {', '.join(found)}"
    else:
        public = sorted(n for n in vars(module) if not n.startswith("_"))
        shown = ", ".join(public[:12]) + (", ..." if len(public) > 12 else "")
        there = f"it has no Workcraft instance (its names: {shown or 'none'})"
    what = "has no attribute" if instance is None else "has, but it is not a Workcraft instance:"
    raise LoadError(f"module {module_name!r} {what} {attribute!r}; {there}")
