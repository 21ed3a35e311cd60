"""A small client for `ptune serve` (standard library only).

    client = PtuneClient("http://127.0.0.1:8000")      # api_key=... or $PTUNE_API_KEY for --api-key-file
    client.predict("sst2", ["a gripping film"])    # [{"label": ..., "probabilities": {...}}]
    client.predict("rte", [["A man sleeps.", "Someone rests."]])
    client.predict("qa", [{"question": "...", "context": "..."}])
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request


class ServeError(Exception):
    """The server refused or failed a request; `status` and `kind` say how."""

    def __init__(self, status: int, kind: str, message: str, retry_after: float | None = None):
        super().__init__(f"{status} {kind}: {message}")
        self.status, self.kind, self.message, self.retry_after = status, kind, message, retry_after


class PtuneClient:
    def __init__(self, url: str = "http://127.0.0.1:8000", *, timeout: float = 60.0, api_key: str | None = None):
        """`api_key`: the bearer token a server started with --api-key-file asks for (default:
        $PTUNE_API_KEY)."""
        import os

        self.url, self.timeout = url.rstrip("/"), timeout
        self.api_key = api_key or os.environ.get("PTUNE_API_KEY") or None

    def predict(self, task: str, inputs: list) -> list[dict]:
        """Texts (or [text, pair] lists for pair tasks) -> one prediction per input, in order."""
        return self._call("POST", "/v1/predict", {"task": task, "inputs": list(inputs)})["predictions"]

    def tasks(self) -> list[dict]:
        return self._call("GET", "/v1/tasks")["tasks"]

    def health(self) -> dict:
        return self._call("GET", "/healthz")

    def _call(self, method: str, path: str, payload: dict | None = None) -> dict:
        data = json.dumps(payload).encode() if payload is not None else None
        headers = {"Content-Type": "application/json"} if data else {}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as err:
            try:
                error = json.loads(err.read())["error"]
            except (ValueError, KeyError, TypeError):
                error = {"kind": "http", "message": err.reason}
            retry = err.headers.get("Retry-After")
            raise ServeError(err.code, error["kind"], error["message"],
                             float(retry) if retry else None) from None
