"""The JSON API under ``/api`` (documented at ``/docs`` and ``/openapi.json``).

Runs are addressed by the id or name ``/api/runs`` lists. Bad input is a 422 whose ``detail``
is one sentence the page shows; an unknown run is a 404; a full queue a 503."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import Response

from vaekit.serve import infer, media
from vaekit.serve.schemas import (
    DecodeRequest, EncodeResponse, Example, InterpolateRequest, Items, MapResponse, Problem, RestyleRequest,
    RunInfo, RunSummary, SampleRequest,
)
from vaekit.serve.slots import RunSlot

router = APIRouter(prefix="/api", responses={422: {"model": Problem}, 404: {"model": Problem}, 503: {"model": Problem}})


def _slot(request: Request, key: str | None) -> RunSlot:
    try:
        return request.app.state.slots.get(key)
    except KeyError as exc:
        raise HTTPException(status_code=404, detail=str(exc.args[0])) from None


async def _run(request: Request, slot: RunSlot, fn: Any, *args: Any) -> Any:
    return await request.app.state.gate.run(slot.executor, slot.lock, fn, slot, *args)


def summary(slot: RunSlot) -> dict[str, Any]:
    return {"id": slot.id, "name": slot.name, "kind": slot.kind, "shape": list(slot.shape),
            "latent_dim": slot.latent_dim, "conditional": bool(slot.n_classes), "classes": slot.class_names,
            "dataset": str(slot.run.dataset.get("name"))}


def _columns(slot: RunSlot) -> list[str] | None:
    if slot.kind == "image":
        return None
    if slot.kind == "table":
        pre = slot.run.dataset["preprocessing"]
        return [str(c["name"]) for c in pre["columns"]]
    return [f"x{j}" for j in range(int(slot.shape[0]))]


@router.get("/runs", response_model=list[RunSummary], summary="the runs this server explores")
async def list_runs(request: Request) -> list[dict[str, Any]]:
    return [summary(s) for s in request.app.state.slots.items]


def _info(slot: RunSlot) -> dict[str, Any]:
    st = infer.stats(slot)
    return {
        **summary(slot), "dims": st.dims, "active_dims": sum(d["active"] for d in st.dims), "spread_rule": st.spread_rule,
        "columns": _columns(slot), "start": [float(v) for v in st.mu[0]] if len(st.mu) else [0.0] * slot.latent_dim,
        "start_label": None if st.y is None or not slot.n_classes else int(st.y[0]), "n_examples": int(st.x.shape[0]),
        "features": {"restyle": bool(slot.n_classes), "anomaly": slot.cache.get("anomaly_error") is None, "inpaint": slot.kind == "image"},
    }


@router.get("/runs/{run}", response_model=RunInfo, summary="one run: kind, shape, classes, latent dims by activity")
async def run_info(request: Request, run: str) -> dict[str, Any]:
    slot = _slot(request, run)
    return await _run(request, slot, _info)


def _map(slot: RunSlot) -> dict[str, Any]:
    st = infer.stats(slot)
    return {"points": [[round(float(a), 5), round(float(b), 5)] for a, b in st.points],
            "labels": None if st.y is None else [int(v) for v in st.y], "classes": slot.class_names,
            "axes": st.projection.description}


@router.get("/runs/{run}/map", response_model=MapResponse, summary="the 2-d latent map of the test split")
async def latent_map(request: Request, run: str) -> dict[str, Any]:
    slot = _slot(request, run)
    return await _run(request, slot, _map)


@router.get("/runs/{run}/examples/{index}", response_model=Example, summary="one test example: picture/row, code, label")
async def get_example(request: Request, run: str, index: int) -> dict[str, Any]:
    slot = _slot(request, run)
    return await _run(request, slot, infer.example, index)


@router.post("/decode", summary="a latent code -> the decoded image (PNG) or row (JSON)",
             responses={200: {"content": {"image/png": {}, "application/json": {}}}})
async def decode(request: Request, body: DecodeRequest) -> Response:
    slot = _slot(request, body.run)
    if slot.kind == "image" and body.format == "png":
        png = await _run(request, slot, infer.decode_png, body.z, body.label)
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})
    item = await _run(request, slot, infer.decode_item, body.z, body.label)
    return Response(_json(item), media_type="application/json")


def _json(obj: Any) -> bytes:
    return json.dumps(obj, allow_nan=False).encode()  # strict JSON: a NaN would be a bug, not "NaN"


@router.post("/sample", response_model=Items, summary="random samples from the prior at a temperature")
async def sample(request: Request, body: SampleRequest) -> dict[str, Any]:
    slot = _slot(request, body.run)
    items = await _run(request, slot, infer.sample, body.n, body.temperature, body.seed, body.label)
    return {"items": items, "columns": _columns(slot)}


@router.post("/interpolate", summary="decode a lerp/slerp path between two codes (JSON frames or a GIF download)",
             responses={200: {"content": {"application/json": {}, "image/gif": {}}}})
async def interpolate(request: Request, body: InterpolateRequest) -> Response:
    slot = _slot(request, body.run)
    frames = await _run(request, slot, infer.path_frames, body.z_from, body.z_to, body.steps, body.path,
                        body.label_from, body.label_to)
    if body.format == "gif":
        if slot.kind != "image":
            raise HTTPException(422, detail=f"run {slot.name} was trained on a {slot.kind}: a GIF needs an image run")
        return Response(media.gif_bytes(frames), media_type="image/gif",
                        headers={"Content-Disposition": f'attachment; filename="{slot.name}-{body.path}.gif"'})
    items = [media.item(slot, f) for f in frames]
    return Response(_json({"items": items, "columns": _columns(slot)}), media_type="application/json")


@router.post("/restyle", response_model=Items, summary="conditional runs: one code decoded under every class")
async def restyle(request: Request, body: RestyleRequest) -> dict[str, Any]:
    slot = _slot(request, body.run)
    return {"items": await _run(request, slot, infer.restyle, body.z), "columns": _columns(slot)}


def _labels_of(slot: RunSlot, csv_labels: list[Any] | None, n: int, label: int | None) -> list[int | None]:
    if label is not None:
        return [label] * n
    if csv_labels is None:
        return [None] * n
    names = slot.class_names
    out: list[int | None] = []
    for v in csv_labels:
        text = str(v).strip()
        if text in names:
            out.append(names.index(text))
        else:
            try:
                out.append(int(float(text)))
            except ValueError:
                raise media.BadInput(f"label {text!r} in the CSV is not one of this run's classes ({', '.join(names)})") from None
    return out


def _encode_upload(slot: RunSlot, data: bytes, label: int | None, fit: bool) -> list[dict[str, Any]]:
    if slot.kind == "image":
        x, labels = media.parse_image(slot, data, fit=fit), [label]
    else:
        x, csv_labels = media.parse_csv(slot, data)
        labels = _labels_of(slot, csv_labels, x.shape[0], label)
    return infer.encode(slot, x, labels)


@router.post("/encode", response_model=EncodeResponse,
             summary="an uploaded image (PNG, JPEG ...) or CSV rows -> code, reconstruction, map position, score")
async def encode(request: Request, file: UploadFile = File(..., description="an image (image runs) or a CSV file"),
                 run: str = Form("0"), label: int | None = Form(None, description="conditional runs: the upload's class"),
                 fit: bool = Form(False, description="image runs: convert colours and resize to the run's size")) -> dict[str, Any]:
    slot = _slot(request, run)
    data = await file.read()
    if not data:
        raise HTTPException(422, detail="the uploaded file is empty")
    items = await _run(request, slot, _encode_upload, data, label, fit)
    error = slot.cache.get("anomaly_error")
    score = infer.SCORE if error is None else f"no anomaly score for this run ({error})"
    return {"items": items, "columns": _columns(slot), "score": score}


def _inpaint_upload(slot: RunSlot, data: bytes, mask: str, n: int, label: int | None) -> list[dict[str, Any]]:
    if slot.kind != "image":
        raise media.BadInput(f"run {slot.name} was trained on a {slot.kind}: inpainting here is for images "
                             "(for tables, `vaekit impute` fills empty cells)")
    return infer.inpaint_image(slot, media.parse_image(slot, data), mask, n, label)


@router.post("/inpaint", response_model=Items,
             summary="image runs: fill the masked pixels of an uploaded image (several completions)")
async def inpaint(request: Request, file: UploadFile = File(..., description="the image, of the run's size"),
                  mask: str = Form(..., max_length=1_000_000,
                                   description="one character per pixel, row by row: 1 = fill in, 0 = keep"),
                  run: str = Form("0"), n: int = Form(8, description="completions, 1 .. 16"),
                  label: int | None = Form(None, description="conditional runs: the image's class")) -> dict[str, Any]:
    slot = _slot(request, run)
    data = await file.read()
    if not data:
        raise HTTPException(422, detail="the uploaded file is empty")
    return {"items": await _run(request, slot, _inpaint_upload, data, mask, n, label), "columns": None}
