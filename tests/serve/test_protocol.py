"""A client that trickles its request headers is disconnected after header_timeout_seconds; one
that sends them in time, on a new or a kept-alive connection, is answered."""
import socket
import threading
import time

import pytest
import uvicorn
from fastapi import FastAPI

from ptune.serve.config import ServeConfig
from ptune.serve.protocol import uvicorn_settings


@pytest.fixture()
def server():
    app = FastAPI()

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            **uvicorn_settings(ServeConfig(header_timeout_seconds=0.5)))
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield port
    running.should_exit = True
    thread.join(10)


def closed_after(sock: socket.socket, limit: float) -> float | None:
    """Seconds until the server closed the connection, or None if it stayed open past `limit`."""
    started = time.monotonic()
    sock.settimeout(limit)
    try:
        while sock.recv(1024):
            pass
    except socket.timeout:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - started


def test_headers_sent_too_slowly_close_the_connection(server):
    with socket.create_connection(("127.0.0.1", server)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and the rest never comes
        for _ in range(3):  # a byte now and then does not extend the deadline
            time.sleep(0.2)
            try:
                sock.sendall(b"X")
            except OSError:
                break
        waited = closed_after(sock, 5.0)
    assert waited is not None and waited < 2.0


def test_headers_in_time_are_answered_on_new_and_kept_alive_connections(server):
    with socket.create_connection(("127.0.0.1", server)) as sock:
        for _ in range(2):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.settimeout(5)
            reply = sock.recv(4096)
            assert reply.startswith(b"HTTP/1.1 200") and b'"ok"' in reply
            time.sleep(0.3)  # within the deadline the next request's headers get
        waited = closed_after(sock, 5.0)  # idle after its answer: closed by a deadline too
    assert waited is not None
