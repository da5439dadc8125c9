"""ASGI middleware that answers 413 to a request body over the limit, before the app reads it."""

from __future__ import annotations

import json
from typing import Any


class BodyLimit:
    """ASGI middleware: 413 when a request body is over the limit, by Content-Length or by bytes read."""

    def __init__(self, app: Any, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await self._answer(send, 400, "invalid Content-Length header")
                return
            if size > self.max_bytes:
                await self._answer(send, 413, f"request body too large: {size} bytes > --max-body-bytes "
                                              f"{self.max_bytes}")
                return
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                await self._answer(send, 413, f"request body too large: more than {self.max_bytes} bytes "
                                              f"(--max-body-bytes {self.max_bytes})")
                return
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _answer(send: Any, status: int, message: str) -> None:
        payload = json.dumps({"detail": message}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(payload)).encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": payload})
