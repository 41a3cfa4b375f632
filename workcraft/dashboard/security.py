"""The dashboard's defences, in one place.

* Every response carries a strict Content-Security-Policy: scripts and styles only
  from our own /static files, no inline script, no framing. Even if a value escaped
  the templates' escaping, the browser would not run it.
* Actions need the token in the ``X-Workcraft-Token`` header of a JSON POST. A
  cross-site page can neither set that header nor send JSON without a CORS
  preflight, which this server never grants, so actions are CSRF-proof without
  cookies. Tokens are compared in constant time.
* Host names are checked (``allowed_hosts``) so that a page on another site cannot
  reach a loopback dashboard through DNS rebinding.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workcraft.dashboard.options import is_loopback

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "TOKEN_HEADER",
    "SecurityHeaders",
    "allowed_hosts",
    "same_origin",
    "token_matches",
]

TOKEN_HEADER = "X-Workcraft-Token"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


class SecurityHeaders:
    """Pure ASGI middleware (no per-request task or body buffering) adding the headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def allowed_hosts(bind_host: str) -> list[str]:
    """Host header values to accept: only loopback names for a loopback bind.

    Bound elsewhere, the operator chose to expose it and we cannot know the names
    it is reached by (a proxy, a DNS name), so any Host is accepted there.
    """
    if is_loopback(bind_host):
        return ["127.0.0.1", "localhost", "::1", "[::1]"]
    return ["*"]


def token_matches(given: str | None, expected: str) -> bool:
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from a page of another origin."""
    origin = Headers(scope=request.scope).get("origin")
    if origin is None or origin == "null":
        # No Origin: a non-browser client (curl, a script). They hold the token or fail.
        return origin is None
    parts = urlsplit(origin)
    return parts.netloc == request.headers.get("host", "")
