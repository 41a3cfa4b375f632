"""JSON in and out of the payload and result columns, and the rules for names.

JSON is the only serializer: a row must stay readable in any DB GUI and by peons
written in any version, and unpickling a row would let whoever can write the table
run code on every peon.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "DEFAULT_MAX_BYTES",
    "InvalidPayload",
    "TooLarge",
    "check_name",
    "decode_payload",
    "decode_result",
    "encode_payload",
    "encode_result",
]

MAX_NAME_LENGTH = 255
# Arguments and results are rows in a table that every claim and every GUI reads:
# a megabyte is generous; bigger data belongs in storage, passed by reference.
DEFAULT_MAX_BYTES = 1024 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class InvalidPayload(ValueError):
    """A payload read from the database cannot be turned into args and kwargs."""


class TooLarge(ValueError):
    """Serialized arguments or a result exceed the instance's ``max_payload_bytes``."""


def _check_size(what: str, text: str, max_bytes: int) -> str:
    size = len(text.encode())
    if size > max_bytes:
        raise TooLarge(
            f"{what} is {size:,} bytes as JSON; the limit is {max_bytes:,} "
            "(Workcraft(max_payload_bytes=...)). Store large data elsewhere (a file, a "
            "blob store, a table of your own) and pass a reference to it"
        )
    return text


def check_name(kind: str, name: object) -> str:
    """Queue, task and peon names: any text a person could type, but no surprises.

    Quotes, semicolons and unicode are fine (every statement binds them as
    parameters); control characters, blank names and edge spaces are refused
    because they make rows that nobody can find again by typing the name.
    """
    if not isinstance(name, str):
        raise TypeError(f"{kind} name must be a str, got {type(name).__name__}")
    if not name or not name.strip():
        raise ValueError(f"{kind} name must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"{kind} name is {len(name)} characters; the limit is {MAX_NAME_LENGTH}")
    if name != name.strip():
        raise ValueError(f"{kind} name {name!r} has leading or trailing spaces")
    if _CONTROL.search(name):
        raise ValueError(f"{kind} name {name!r} contains control characters")
    return name


# One encoder for every payload and result: json.dumps with any non-default option
# builds a new JSONEncoder per call, which cost more than the encoding of a small payload.
_dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
# What every task sent without arguments carries (bulk sends of such tasks are common).
EMPTY_PAYLOAD = _dumps({"task_args": [], "task_kwargs": {}})


def encode_payload(
    task_name: str,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> str:
    # Exact types first: the ABC checks cost more than a small payload's encoding.
    if (type(args) is not list and type(args) is not tuple) and (
        isinstance(args, str | bytes) or not isinstance(args, Sequence)
    ):
        raise TypeError(
            f"task_args for {task_name!r} must be a list or tuple, got {type(args).__name__}"
        )
    if (type(kwargs) is not dict and not isinstance(kwargs, Mapping)) or not all(
        isinstance(k, str) for k in kwargs
    ):
        raise TypeError(f"task_kwargs for {task_name!r} must be a dict with str keys")
    if not args and not kwargs and len(EMPTY_PAYLOAD) <= max_bytes:
        return EMPTY_PAYLOAD
    try:
        text = _dumps({"task_args": list(args), "task_kwargs": dict(kwargs)})
    except (TypeError, ValueError):
        # Only now look for the culprit, to name it: the one-dump path stays fast.
        for where, value in [
            *((f"task_args[{i}]", v) for i, v in enumerate(args)),
            *((f"task_kwargs[{k!r}]", v) for k, v in kwargs.items()),
        ]:
            try:
                _dumps(value)
            except (TypeError, ValueError) as exc:
                raise TypeError(
                    f"cannot send task {task_name!r}: {where} ({type(value).__name__}) is "
                    f"not JSON-serializable ({exc}); send plain data: str, int, float, bool, "
                    "None, lists and dicts"
                ) from None
        raise
    return _check_size(f"the payload of task {task_name!r}", text, max_bytes)


def decode_payload(text: str | None) -> tuple[list[Any], dict[str, Any]]:
    if text is None:
        return [], {}
    try:
        data = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise InvalidPayload(f"payload is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidPayload(f"payload must be a JSON object, got {type(data).__name__}")
    args = data.get("task_args", [])
    kwargs = data.get("task_kwargs", {})
    if not isinstance(args, list):
        raise InvalidPayload(f"payload task_args must be a JSON array, got {type(args).__name__}")
    if not isinstance(kwargs, dict):
        raise InvalidPayload(
            f"payload task_kwargs must be a JSON object, got {type(kwargs).__name__}"
        )
    return args, kwargs


def encode_result(value: Any, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    try:
        text = _dumps(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"the task returned a {type(value).__name__}, which is not JSON-serializable "
            f"({exc}); return plain data: str, int, float, bool, None, lists and dicts"
        ) from None
    return _check_size("the task's result", text, max_bytes)


def decode_result(text: str | None) -> Any:
    if text is None:
        return None
    return json.loads(text)
