"""The HTTP protocol uvicorn runs for ptune: h11 with a deadline on each request's headers.

uvicorn times out a request's body (ptune does, in the app) and an idle kept-alive connection,
but not a client that sends its request line and headers a byte at a time: that client holds a
connection, and a few hundred of them hold them all. Here every request's headers must have
arrived within `header_timeout_seconds` of the connection opening, or of the previous answer on
a kept-alive connection; a client that is slower is disconnected.
"""
from __future__ import annotations

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


def protocol_with_header_timeout(seconds: float) -> type:
    """An H11Protocol class whose requests' headers must arrive within `seconds`."""

    class HeadersInTime(H11Protocol):
        header_timeout = seconds

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self.headers_deadline = None
            self.arm_header_deadline()

        def arm_header_deadline(self) -> None:
            self.cancel_header_deadline()
            self.headers_deadline = self.loop.call_later(self.header_timeout, self.headers_too_slow)

        def cancel_header_deadline(self) -> None:
            if getattr(self, "headers_deadline", None) is not None:
                self.headers_deadline.cancel()
                self.headers_deadline = None

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:  # the request line and headers are in
                self.cancel_header_deadline()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self.arm_header_deadline()  # the next request on this connection gets its own deadline

        def connection_lost(self, exc) -> None:
            self.cancel_header_deadline()
            super().connection_lost(exc)

        def headers_too_slow(self) -> None:
            self.headers_deadline = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.logger.info("closing a connection whose request headers took over %g s", self.header_timeout)
                self.transport.close()

    return HeadersInTime


def uvicorn_settings(config) -> dict:
    """The uvicorn.Config settings every ptune server shares."""
    return {"http": protocol_with_header_timeout(config.header_timeout_seconds), "timeout_graceful_shutdown": 30,
            "access_log": False}
