"""Model inference off the event loop, with a bounded queue in front of it.

Every request that needs the model goes through :meth:`Gate.run`: if ``max_in_flight``
requests are already running or waiting, it is refused at once with HTTP 503 (and
``Retry-After: 1``) instead of piling up; otherwise the work runs on the run's own worker thread
(a one-thread executor: one inference per model at a time, in arrival order) while the event
loop keeps serving, holding the run's lock (which the lazily computed views share).

Why not Starlette's ``run_in_threadpool``: its anyio hop cost more per request than the decode
itself; ``loop.run_in_executor`` on a dedicated thread is cheaper, and a model is single-file anyway.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Executor
from typing import Any, Callable, TypeVar

from fastapi import HTTPException

T = TypeVar("T")


class Gate:
    def __init__(self, max_in_flight: int = 32) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.max_in_flight = max_in_flight
        self.in_flight = 0  # touched only on the event loop thread, so no lock is needed
        self.refused = 0

    async def run(self, executor: Executor, lock: threading.Lock, fn: Callable[..., T], *args: Any) -> T:
        if self.in_flight >= self.max_in_flight:
            self.refused += 1
            raise HTTPException(
                status_code=503, headers={"Retry-After": "1"},
                detail=f"the server is busy ({self.in_flight} model requests in flight, at most "
                       f"{self.max_in_flight}); retry in a moment",
            )
        self.in_flight += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, _locked, lock, fn, *args)
        finally:
            self.in_flight -= 1


def _locked(lock: threading.Lock, fn: Callable[..., T], *args: Any) -> T:
    with lock:
        return fn(*args)
