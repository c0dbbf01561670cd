"""CLI parsers for serve: the web explorer (issue 13).

Parsing stays torch-free (``vaekit --help`` is instant): handlers import what they need when run."""

from __future__ import annotations

import argparse
from typing import Callable

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]",
             add_run: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add this module's subcommands to ``sub``; ``add_run`` adds the run-directory and --device arguments."""
    p = sub.add_parser(
        "serve", help="the web explorer: one page over one or more runs (and a JSON API under /api)",
        description="Start the web explorer over the given runs: latent sliders, samples, interpolation, "
                    "conditional generation, uploads with their reconstruction and place on the latent map. "
                    "The page and the JSON API (its OpenAPI schema at /openapi.json) are served by the package; nothing is "
                    "fetched from the internet. Binds to 127.0.0.1 unless told otherwise.")
    p.add_argument("runs", metavar="DIR", nargs="+", help="run directories made by `vaekit train`")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 exposes it to the network)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--max-upload", type=int, default=2 * 1024 * 1024, metavar="BYTES",
                   help="largest request body accepted, larger ones get HTTP 413 (default 2 MiB)")
    p.add_argument("--max-in-flight", type=int, default=32, metavar="N",
                   help="model requests running or waiting at once; more get HTTP 503 (default 32)")
    p.add_argument("--threads", type=int, default=1, metavar="N",
                   help="torch threads per inference (default 1: single-example decodes gain nothing from more)")
    p.add_argument("--http", default="auto", choices=["auto", "h11", "httptools"],
                   help="uvicorn's HTTP/1.1 parser (default auto: httptools when installed, else the pure-Python h11)")
    p.set_defaults(func=serve)


def serve(args: argparse.Namespace) -> int:
    import sys

    from vaekit.core.errors import ConfigError

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be 0 .. 65535 (got {args.port})")
    if args.max_upload < 1024 or args.max_in_flight < 1 or args.threads < 1:
        raise ConfigError("--max-upload must be at least 1024 bytes, --max-in-flight and --threads at least 1")
    if args.host not in LOOPBACK:
        print(f"vaekit: warning: binding to {args.host}: the explorer is reachable from other machines; it has no "
              "login, so anyone who can reach this port can use the models (use --host 127.0.0.1 to keep it local)",
              file=sys.stderr)
    from vaekit.serve.server import check_run_dirs, run_server

    check_run_dirs(args.runs)  # before torch is imported: a typo fails at once
    import torch

    torch.set_num_threads(args.threads)
    run_server(args.runs, host=args.host, port=args.port, max_upload=args.max_upload,
               max_in_flight=args.max_in_flight, http=args.http, echo=print)
    return 0
