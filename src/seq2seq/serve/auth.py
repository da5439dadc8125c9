"""API-key authentication of `seq2seq serve`: a Bearer token on every route but /health, compared in constant
time, and the refusal to bind beyond this machine without one."""

from __future__ import annotations

import hmac
import ipaddress
import json
from typing import Any

OPEN_PATHS = ("/health",)  # a load balancer's liveness probe carries no key
KEY_ENV = "SEQ2SEQ_API_KEY"


class BearerAuth:
    """ASGI middleware: 401 unless the request carries `Authorization: Bearer <key>` (paths in OPEN_PATHS
    excepted). The key is compared with hmac.compare_digest, so the time taken says nothing of how much of a
    guess was right."""

    def __init__(self, app: Any, key: str):
        self.app = app
        self.key = key.encode()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") in OPEN_PATHS or self.allowed(scope):
            await self.app(scope, receive, send)
            return
        payload = json.dumps({"detail": "missing or wrong API key: send the header Authorization: Bearer <key>"})
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer"),
                                (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload.encode()})

    def allowed(self, scope: dict) -> bool:
        """Whether the request's Authorization header holds the key."""
        header = next((value for name, value in scope.get("headers") or [] if name == b"authorization"), b"")
        scheme, _, token = header.partition(b" ")
        return hmac.compare_digest(token.strip(), self.key) and scheme.lower() == b"bearer"


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or `localhost`) reaches only this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def check_exposure(host: str, api_key: str | None, insecure: bool) -> None:
    """ValueError for a server reachable beyond this machine with no key, unless `insecure` says so."""
    if api_key or insecure or is_loopback(host):
        return
    raise ValueError(f"refusing to serve on --host {host} without an API key: anyone who reaches the port could use "
                     f"the model. Give --api-key (or set {KEY_ENV}), or --insecure-no-auth to serve openly")
