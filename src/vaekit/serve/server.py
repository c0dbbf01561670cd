"""Run the explorer under uvicorn: bind first, then print the address people can open (the real
port, also when ``port=0`` asked for a free one), then serve until Ctrl-C."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Callable

from vaekit.core.errors import VaekitError
from vaekit.serve.app import MAX_IN_FLIGHT, MAX_UPLOAD, create_app


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or a clear error (port taken, address not of this machine)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit TCP_NODELAY on Linux. Without it, Nagle's algorithm holds the
    # response body (written after the headers) until the client's delayed ACK: ~40 ms per request.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise VaekitError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port or --host") from None
    sock.listen(2048)
    return sock


def url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"


def run_server(runs: list[str | Path], *, host: str = "127.0.0.1", port: int = 8000, max_upload: int = MAX_UPLOAD,
               max_in_flight: int = MAX_IN_FLIGHT, echo: Callable[[str], None] = print) -> None:
    import uvicorn

    app = create_app(list(runs), max_upload=max_upload, max_in_flight=max_in_flight)  # loads (and checks) the runs first
    sock = bind(host, port)
    actual = sock.getsockname()[1]
    names = ", ".join(f"{s.id}: {s.name}" for s in app.app.state.slots.items)
    echo(f"vaekit explorer on {url(host, actual)}  (runs {names}; API schema at {url(host, actual)}openapi.json; Ctrl-C stops)")
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
