"""Run the real service in a background thread, for tests that need a live HTTP port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from service.app import create_app
from service.server import uvicorn_options
from service.settings import Settings


@contextmanager
def serve_in_thread(settings: Settings, start_timeout: float = 60) -> Iterator[tuple[str, FastAPI]]:
    """``with serve_in_thread(settings) as (base_url, app):`` real uvicorn on a free loopback port."""
    app = create_app(settings)
    # Binding here and handing the socket to uvicorn avoids racing for a free port.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    options = {**uvicorn_options(settings), "log_level": "warning", "timeout_graceful_shutdown": 5}
    server = uvicorn.Server(uvicorn.Config(app, **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", app
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
