"""The FastAPI app of ``vaekit serve``: the JSON API (:mod:`vaekit.serve.routes`) and the page
(``static/``: plain HTML, JS and CSS shipped in the package — no CDN, no build step)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from vaekit.core.errors import VaekitError
from vaekit.serve.gate import Gate
from vaekit.serve.limits import BodyLimit
from vaekit.serve.routes import router
from vaekit.serve.server import MAX_IN_FLIGHT, MAX_UPLOAD
from vaekit.serve.slots import RunSlot, Slots, load_slots

STATIC = Path(__file__).resolve().parent / "static"


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return "; ".join(parts)


def create_app(runs: list[str | Path] | list[RunSlot], *, max_upload: int = MAX_UPLOAD,
               max_in_flight: int = MAX_IN_FLIGHT) -> Any:
    """The ASGI app over ``runs`` (run directories, or already loaded :class:`RunSlot` s).

    Returns the app wrapped in the body-size limit; the FastAPI object is its ``.app``."""
    slots = runs if runs and isinstance(runs[0], RunSlot) else load_slots(list(runs))  # type: ignore[arg-type]
    # No /docs or /redoc: FastAPI's pages load their scripts from a CDN, and the explorer works
    # offline. The schema itself is /openapi.json.
    app = FastAPI(title="vaekit explorer", version="0.1.0", docs_url=None, redoc_url=None,
                  description="Explore trained VAE runs: decode codes, sample, interpolate, encode uploads.")
    app.state.slots = Slots(list(slots))  # type: ignore[arg-type]
    app.state.gate = Gate(max_in_flight)
    app.include_router(router)

    @app.exception_handler(VaekitError)
    async def _bad_input(request: Request, exc: VaekitError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(Exception)
    async def _failed(request: Request, exc: Exception) -> JSONResponse:
        # A bug, not bad input: say so in one line the page can show (the traceback goes to the log).
        return JSONResponse({"detail": f"the server failed on this request ({type(exc).__name__}: {exc})"[:500]},
                            status_code=500)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Only where and what: echoing the input back could put a NaN into the JSON response.
        errors = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg")), "type": str(e.get("type"))} for e in exc.errors()[:5]]
        return JSONResponse({"detail": _validation_message(exc), "errors": errors}, status_code=422)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(status_code=204)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    wrapped = BodyLimit(app, max_upload)
    wrapped.app = app  # type: ignore[attr-defined]
    return wrapped
