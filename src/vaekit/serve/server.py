"""Run the explorer under uvicorn: check the run folders and bind the port first (a taken port or
a missing folder fails in a second, before any model is loaded), then load the runs, print the
address people can open (the real port, also when ``port=0`` asked for a free one), and serve
until Ctrl-C. Torch-free at import (the CLI imports it while parsing)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Callable

from vaekit.core.errors import RunDirError, VaekitError

MAX_UPLOAD = 2 * 1024 * 1024  # bytes of one request body
MAX_IN_FLIGHT = 32


def check_run_dirs(runs: list[str | Path]) -> None:
    """A one-line :class:`RunDirError` for a missing folder or one that is not a run (cheap: no torch)."""
    if not runs:
        raise RunDirError("give at least one run directory made by `vaekit train`")
    for run in runs:
        path = Path(run)
        if not path.is_dir():
            raise RunDirError(f"run directory {path} does not exist; give the folder `vaekit train` printed")
        if not (path / "config.json").is_file():
            raise RunDirError(f"{path} is not a run directory (no config.json); give a folder made by `vaekit train`")


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
               max_in_flight: int = MAX_IN_FLIGHT, http: str = "auto",
               echo: Callable[[str], None] = print) -> None:
    check_run_dirs(list(runs))
    if http == "httptools":
        try:
            import httptools  # noqa: F401
        except ImportError:
            raise VaekitError("--http httptools needs the httptools package (pip install httptools)") from None
    sock = bind(host, port)
    try:
        import uvicorn

        from vaekit.serve.app import create_app

        app = create_app(list(runs), max_upload=max_upload, max_in_flight=max_in_flight)
    except BaseException:
        sock.close()
        raise
    actual = sock.getsockname()[1]
    names = ", ".join(f"{s.id}: {s.name}" for s in app.app.state.slots.items)
    echo(f"vaekit explorer on {url(host, actual)}  (runs {names}; API schema at {url(host, actual)}openapi.json; Ctrl-C stops)")
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2, http=http)
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
