"""Who may call the server, and which request a log line is about.

`ApiKeys` holds the bearer tokens of `--api-key-file` (one per line; blank lines and `#` comments
ignored), re-read when the file changes, so keys rotate without a restart. `RequestGate` is an
ASGI middleware in front of the app: it gives every request an id (the client's `X-Request-ID`
when it is a plain token, a fresh one otherwise) and sends it back in the response, refuses a
request without a valid key with 401 (every key compared in constant time; no key is ever
logged), and writes one access line per request with its id, status and time. `/healthz` needs
no key (load balancers ask it), nor do the two static pages, `/` (playground) and `/docs`.
"""
from __future__ import annotations

import hmac
import json
import logging
import re
import threading
import time
import uuid
from pathlib import Path

from ptune.errors import PtuneError

log = logging.getLogger("ptune.serve.access")
OPEN_PATHS = frozenset({"/healthz", "/", "/docs"})
"""Answered without a key: liveness checks, and two static pages that hold no data (the playground
and the API docs; a browser cannot send a key when it opens a page): every call they make, to
/openapi.json or the API, carries the key typed into them."""
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
MIN_KEY_LENGTH = 16


class ApiKeys:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._keys: tuple[bytes, ...] = ()
        self._stamp: tuple | None = None
        self._lock = threading.Lock()
        self._checked = 0.0
        self.reload(strict=True)

    def reload(self, *, strict: bool = False) -> None:
        """Read the file again if it changed. At start-up (`strict`) a missing, unreadable, empty or
        garbled file is an error; while serving it revokes every key (fail closed: emptying or
        deleting the file is how an operator shuts everyone out) until the file holds keys again."""
        stamp = None
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
            if stamp == self._stamp:
                return
            keys = self.parse(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, PtuneError) as err:
            if strict:
                raise PtuneError(f"--api-key-file {self.path}: {err}") from None
            if stamp is None and self._stamp == "gone" or self._stamp == ("bad", stamp):
                return  # said once per state of the file
            with self._lock:
                self._keys, self._stamp = (), "gone" if stamp is None else ("bad", stamp)
            reason = "is gone" if stamp is None else f"cannot be used ({type(err).__name__}: {err})"
            log.error("--api-key-file %s %s: every key is revoked, every request but /healthz gets 401 until it "
                      "holds valid keys again", self.path, reason)
            return
        with self._lock:
            self._keys, self._stamp = keys, stamp
        if not strict:
            log.info("--api-key-file %s re-read: %d key(s)", self.path, len(keys))

    @staticmethod
    def parse(text: str) -> tuple[bytes, ...]:
        keys = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
        if not keys:
            raise PtuneError("holds no keys; put one key per line (blank lines and # comments are ignored)")
        short = [i for i, key in enumerate(keys, 1) if len(key) < MIN_KEY_LENGTH or any(c.isspace() for c in key)]
        if short:
            raise PtuneError(f"key {short[0]} (of {len(keys)}) is shorter than {MIN_KEY_LENGTH} characters or holds "
                             "spaces; use long random keys, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`")
        return tuple(key.encode("utf-8") for key in keys)

    def allows(self, token: bytes) -> bool:
        """True when `token` is one of the keys. Every key is compared, each in constant time, so the
        answer's timing says nothing about which key, or how much of one, matched."""
        now = time.monotonic()
        if now - self._checked > 1.0:  # at most one stat() a second, not one per request
            self._checked = now
            self.reload()
        with self._lock:
            keys = self._keys
        found = False
        for key in keys:
            found |= hmac.compare_digest(key, token)
        return found


def request_id(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if REQUEST_ID.fullmatch(text):
                return text
    return uuid.uuid4().hex


def bearer_token(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            return token.strip() if scheme.lower() == b"bearer" and token.strip() else None
    return None


class RequestGate:
    """ASGI middleware: request ids, the key check, one access-log line per request."""

    def __init__(self, app, *, keys: ApiKeys | None, access_log: bool = True, on_refused=None, echo_id: bool = True):
        """`echo_id=False` when a proxy in front (Ray Serve's) already sends the id back: once is enough."""
        self.app, self.keys, self.access_log, self.on_refused = app, keys, access_log, on_refused
        self.echo_id = echo_id

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        rid = request_id(scope["headers"])
        scope.setdefault("state", {})["request_id"] = rid
        status = {"code": 500}

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                if self.echo_id:
                    message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", rid.encode())]}
            await send(message)

        try:
            if self.keys is not None and scope["path"] not in OPEN_PATHS and scope["method"] != "OPTIONS":
                token = bearer_token(scope["headers"])
                if token is None or not self.keys.allows(token):
                    if self.on_refused:
                        self.on_refused()
                    return await unauthorized(send_with_id, missing=token is None)
            await self.app(scope, receive, send_with_id)
        finally:
            if self.access_log:
                log.info("%s %s %s %d %.1f ms", rid, scope["method"], scope["path"], status["code"],
                         1000 * (time.perf_counter() - started))


async def unauthorized(send, *, missing: bool) -> None:
    message = ("this server needs an API key: send 'Authorization: Bearer <key>'" if missing else
               "the API key was not accepted; check it against the server's --api-key-file")
    body = json.dumps({"error": {"kind": "unauthorized", "message": message}}).encode()
    await send({"type": "http.response.start", "status": 401,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"www-authenticate", b'Bearer realm="ptune"')]})
    await send({"type": "http.response.body", "body": body})


def cors_origins(value: str | None) -> list[str]:
    """`--cors-origins a,b` -> the list; `*` allows any origin (never with credentials)."""
    return [origin.strip() for origin in (value or "").split(",") if origin.strip()]
