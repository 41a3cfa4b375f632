"""The one loguru sink workcraft configures, for the CLI and the peon."""

from __future__ import annotations

import sys

from loguru import logger

__all__ = ["configure_logging"]

_FORMAT = (
    "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> | <level>{level: <7}</level> | "
    "<cyan>{extra[component]}</cyan> | {message}"
)


def configure_logging(
    level: str = "INFO", json: bool = False, component: str = "workcraft"
) -> None:
    """Replace loguru's default sink: human lines on stderr, or one JSON object per line."""
    logger.remove()
    logger.enable("workcraft")
    logger.configure(extra={"component": component})
    level = level.upper()
    if json:
        logger.add(sys.stderr, level=level, serialize=True, backtrace=False, diagnose=False)
    else:
        # diagnose=False: loguru's variable dumps in tracebacks would print local
        # values, and a local may hold a password or a task's private arguments.
        logger.add(sys.stderr, level=level, format=_FORMAT, backtrace=False, diagnose=False)
