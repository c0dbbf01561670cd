"""The explorer's JSON API through FastAPI's TestClient: every endpoint and every error path,
on real runs trained on digits (plain and conditional) and on the breast-cancer table."""

from __future__ import annotations

import base64
import io
import threading
import time

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from serve_helpers import serve_runs  # noqa: E402


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return serve_runs(tmp_path_factory)


@pytest.fixture(scope="module")
def app(runs):
    from vaekit.serve.app import create_app

    return create_app([runs["digits"], runs["cvae"], runs["table"]], max_upload=64 * 1024)


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as c:
        yield c


def png_of(url: str) -> np.ndarray:
    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


def png_upload(arr: np.ndarray, mode: str = "L") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr.astype(np.uint8), mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def detail(r) -> str:
    return r.json()["detail"]


# --- runs, info, schema ------------------------------------------------------------------------
def test_runs_and_info(client):
    runs = client.get("/api/runs").json()
    assert [(r["id"], r["name"], r["kind"]) for r in runs] == [("0", "digits", "image"), ("1", "cvae", "image"),
                                                               ("2", "table", "table")]
    assert runs[1]["conditional"] and not runs[0]["conditional"]
    info = client.get("/api/runs/digits").json()
    assert info == client.get("/api/runs/0").json()
    assert info["shape"] == [1, 8, 8] and info["latent_dim"] == 16 and len(info["dims"]) == 16
    activity = [d["activity"] for d in info["dims"]]
    assert activity == sorted(activity, reverse=True) and sorted(d["index"] for d in info["dims"]) == list(range(16))
    assert info["active_dims"] == sum(a > 0.01 for a in activity) >= 1
    for d in info["dims"]:
        assert d["low"] < d["mean"] < d["high"] and d["high"] - d["low"] == pytest.approx(6 * d["sd"], rel=1e-6)
    table = client.get("/api/runs/2").json()
    assert table["kind"] == "table" and len(table["columns"]) == 30 and table["columns"][0] == "mean radius"
    assert "/api/decode" in client.get("/openapi.json").json()["paths"]


def test_unknown_runs_are_404_and_never_paths(client, runs):
    for key in ("7", "nope", "..%2F..%2Fetc", str(runs["digits"])):
        r = client.get(f"/api/runs/{key}")
        assert r.status_code == 404, key
    r = client.post("/api/decode", json={"run": str(runs["digits"]), "z": [0.0] * 16})
    assert r.status_code == 404 and "unknown run" in detail(r)
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/static/%2e%2e/app.py").status_code == 404


def test_page_is_served_without_cdn(client):
    html = client.get("/").text
    assert "<script" in html and "http://" not in html and "https://" not in html
    for asset in ("/static/app.js", "/static/style.css"):
        r = client.get(asset)
        assert r.status_code == 200 and "https://" not in r.text


# --- decode ------------------------------------------------------------------------------------
def test_decode_png_changes_with_the_code(client):
    info = client.get("/api/runs/0").json()
    z = info["start"]
    a = client.post("/api/decode", json={"z": z})
    assert a.status_code == 200 and a.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(a.content)).size == (8, 8)
    top = info["dims"][0]
    z2 = list(z)
    z2[top["index"]] = top["high"]
    b = client.post("/api/decode", json={"z": z2})
    assert np.abs(np.asarray(Image.open(io.BytesIO(a.content)), float) - np.asarray(Image.open(io.BytesIO(b.content)), float)).sum() > 0
    j = client.post("/api/decode", json={"z": z, "format": "json"}).json()
    assert np.array_equal(png_of(j["png"]), np.asarray(Image.open(io.BytesIO(a.content))))


def test_decode_bad_codes(client):
    r = client.post("/api/decode", json={"z": [0.0] * 3})
    assert r.status_code == 422 and "16 dimensions" in detail(r)
    body = '{"z": [NaN' + ", 0" * 15 + "]}"
    r = client.post("/api/decode", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422 and "finite" in detail(r)
    body = '{"z": [Infinity' + ", 0" * 15 + "]}"
    assert client.post("/api/decode", content=body, headers={"content-type": "application/json"}).status_code == 422
    r = client.post("/api/decode", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    r = client.post("/api/decode", json={"z": ["a"] * 16})
    assert r.status_code == 422
    r = client.post("/api/decode", json={"z": [0.0] * 16, "label": 1})
    assert r.status_code == 422 and "not conditional" in detail(r)
    r = client.post("/api/decode", json={"z": [0.0] * 16, "surprise": 1})
    assert r.status_code == 422 and "surprise" in detail(r)


def test_conditional_decode_needs_a_label_in_range(client):
    r = client.post("/api/decode", json={"run": "cvae", "z": [0.0] * 8})
    assert r.status_code == 422 and "label 0 .. 9" in detail(r)
    r = client.post("/api/decode", json={"run": "cvae", "z": [0.0] * 8, "label": 10})
    assert r.status_code == 422 and "out of range" in detail(r)
    a = client.post("/api/decode", json={"run": 1, "z": [0.0] * 8, "label": 0}).content
    b = client.post("/api/decode", json={"run": 1, "z": [0.0] * 8, "label": 1}).content
    assert a != b  # the label changes the picture


def test_table_decode_is_a_row(client):
    r = client.post("/api/decode", json={"run": "table", "z": [0.0] * 4})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    row = r.json()["row"]
    assert len(row) == 30 and all(isinstance(v, (int, float)) for v in row)
    assert 5 < row[0] < 30  # mean radius in its own units (mm), not standardised


# --- sample, interpolate, restyle ----------------------------------------------------------------
def test_sample_temperature_seed_and_limits(client):
    a = client.post("/api/sample", json={"n": 4, "seed": 3}).json()["items"]
    b = client.post("/api/sample", json={"n": 4, "seed": 3}).json()["items"]
    c = client.post("/api/sample", json={"n": 4, "seed": 3, "temperature": 0.1}).json()["items"]
    assert len(a) == 4 and [x["png"] for x in a] == [x["png"] for x in b] and [x["png"] for x in a] != [x["png"] for x in c]
    for bad in ({"n": 0}, {"n": 65}, {"temperature": 0}, {"temperature": -1}, {"seed": -1}):
        assert client.post("/api/sample", json=bad).status_code == 422, bad
    cond = client.post("/api/sample", json={"run": "cvae", "n": 3, "label": 7}).json()["items"]
    assert [x["label"] for x in cond] == [7, 7, 7]
    cycle = client.post("/api/sample", json={"run": "cvae", "n": 12}).json()["items"]
    assert [x["label"] for x in cycle] == [i % 10 for i in range(12)]
    rows = client.post("/api/sample", json={"run": "table", "n": 5}).json()
    assert len(rows["items"]) == 5 and len(rows["columns"]) == 30 and all(len(x["row"]) == 30 for x in rows["items"])


def test_interpolate_frames_and_gif(client):
    e0, e1 = (client.get(f"/api/runs/0/examples/{i}").json() for i in (0, 1))
    body = {"z_from": e0["z"], "z_to": e1["z"], "steps": 6, "path": "lerp"}
    frames = client.post("/api/interpolate", json=body).json()["items"]
    assert len(frames) == 6
    ends = [client.post("/api/decode", json={"z": z, "format": "json"}).json()["png"] for z in (e0["z"], e1["z"])]
    assert np.array_equal(png_of(frames[0]["png"]), png_of(ends[0]))
    assert np.array_equal(png_of(frames[-1]["png"]), png_of(ends[1]))
    gif = client.post("/api/interpolate", json={**body, "format": "gif"})
    assert gif.headers["content-type"] == "image/gif" and "attachment" in gif.headers["content-disposition"]
    img = Image.open(io.BytesIO(gif.content))
    assert img.n_frames == 2 * 6 - 2 and img.size[0] >= 112  # bounces back and forth, enlarged
    assert client.post("/api/interpolate", json={**body, "steps": 1}).status_code == 422
    assert client.post("/api/interpolate", json={**body, "path": "zigzag"}).status_code == 422
    r = client.post("/api/interpolate", json={"run": "table", "z_from": [0.0] * 4, "z_to": [1.0] * 4, "format": "gif"})
    assert r.status_code == 422 and "image run" in detail(r)
    rows = client.post("/api/interpolate", json={"run": "table", "z_from": [0.0] * 4, "z_to": [1.0] * 4, "steps": 3})
    assert [len(x["row"]) for x in rows.json()["items"]] == [30, 30, 30]
    r = client.post("/api/interpolate", json={"run": "cvae", "z_from": [0.0] * 8, "z_to": [0.0] * 8})
    assert r.status_code == 422  # conditional: the ends' labels are needed
    r = client.post("/api/interpolate", json={"run": "cvae", "z_from": [0.0] * 8, "z_to": [0.0] * 8, "steps": 3,
                                              "label_from": 1, "label_to": 7})
    assert r.status_code == 200 and len(r.json()["items"]) == 3


def test_restyle(client):
    items = client.post("/api/restyle", json={"run": "cvae", "z": [0.0] * 8}).json()["items"]
    assert [x["label"] for x in items] == list(range(10)) and len({x["png"] for x in items}) > 1
    r = client.post("/api/restyle", json={"run": "digits", "z": [0.0] * 16})
    assert r.status_code == 422 and "not conditional" in detail(r)


# --- map and examples ----------------------------------------------------------------------------
def test_map_and_examples(client):
    m = client.get("/api/runs/0/map").json()
    info = client.get("/api/runs/0").json()
    assert len(m["points"]) == info["n_examples"] == len(m["labels"]) and m["classes"][:2] == ["0", "1"]
    ex = client.get("/api/runs/0/examples/5").json()
    assert ex["map"] == pytest.approx(m["points"][5], abs=1e-4) and ex["label"] == m["labels"][5]
    assert png_of(ex["png"]).shape == (8, 8)
    for bad in (-1, info["n_examples"]):
        r = client.get(f"/api/runs/0/examples/{bad}")
        assert r.status_code == 422 and "outside" in detail(r)


# --- encode (uploads) ----------------------------------------------------------------------------
def test_encode_image_round_trip(client):
    ex = client.get("/api/runs/0/examples/5").json()
    pic = png_of(ex["png"])
    r = client.post("/api/encode", files={"file": ("x.png", png_upload(pic), "image/png")}, data={"run": "0"})
    assert r.status_code == 200, r.text
    out = r.json()["items"][0]
    # The PNG holds the example's grey levels exactly, so its code is the example's code.
    assert out["z"] == pytest.approx(ex["z"], abs=1e-5) and out["map"] == pytest.approx(ex["map"], abs=1e-4)
    assert np.array_equal(png_of(out["input"]["png"]), pic) and png_of(out["recon"]["png"]).shape == (8, 8)


def test_encode_gives_an_anomaly_score_against_the_test_set(client):
    info = client.get("/api/runs/0").json()
    typical = png_of(client.get("/api/runs/0/examples/5").json()["png"])
    noise = (np.random.default_rng(0).integers(0, 17, size=(8, 8)) * 255 // 16).astype(np.uint8)
    out = {}
    for name, pic in (("typical", typical), ("noise", noise)):
        r = client.post("/api/encode", files={"file": ("x.png", png_upload(pic), "image/png")}, data={"run": "0"})
        assert r.status_code == 200, r.text
        assert "-log p(x)" in r.json()["score"]
        out[name] = r.json()["items"][0]
    assert np.isfinite(out["typical"]["anomaly"]) and out["noise"]["anomaly"] > out["typical"]["anomaly"] + 10
    assert out["noise"]["percentile"] == 100.0  # noisier than every test digit
    assert 0 <= out["typical"]["percentile"] < 100
    assert info["features"]["anomaly"] and info["features"]["inpaint"]
    row = client.get("/api/runs/2/examples/0").json()
    cols = client.get("/api/runs/2").json()["columns"]
    csv_text = ",".join(f'"{c}"' for c in cols) + "\n" + ",".join(str(v) for v in row["row"]) + "\n"
    r = client.post("/api/encode", files={"file": ("r.csv", csv_text.encode(), "text/csv")}, data={"run": "2"})
    assert r.status_code == 200 and np.isfinite(r.json()["items"][0]["anomaly"])


def test_inpaint_keeps_the_unmasked_pixels(client):
    pic = png_of(client.get("/api/runs/0/examples/5").json()["png"])
    mask = "1" * 24 + "0" * 40  # fill in the top three rows
    r = client.post("/api/inpaint", files={"file": ("x.png", png_upload(pic), "image/png")},
                    data={"run": "0", "mask": mask, "n": "6"})
    assert r.status_code == 200, r.text
    outs = [png_of(it["png"]) for it in r.json()["items"]]
    assert len(outs) == 6
    for out in outs:
        assert np.array_equal(out[3:], pic[3:])  # kept exactly
    assert len({o[:3].tobytes() for o in outs}) > 1  # several different completions
    assert client.get("/api/runs/cvae").json()["features"]["inpaint"]
    assert not client.get("/api/runs/table").json()["features"]["inpaint"]

    def post(run="0", **form):
        data = {"run": run, "mask": mask, **form}
        return client.post("/api/inpaint", files={"file": ("x.png", png_upload(pic), "image/png")}, data=data)

    for bad, words in (({"mask": "1" * 10}, "64 characters"), ({"mask": "2" * 64}, "0/1"),
                       ({"mask": "0" * 64}, "no pixel"), ({"n": "0"}, "1 .. 16"), ({"n": "17"}, "1 .. 16"),
                       ({"run": "cvae"}, "label"), ({"run": "table"}, "impute")):
        r = post(**bad)
        assert r.status_code == 422 and words in detail(r), (bad, r.text)
    assert post(run="cvae", label="2").status_code == 200


def test_encode_image_errors(client):
    def post(data: bytes, **form):
        return client.post("/api/encode", files={"file": ("u.png", data, "image/png")}, data={"run": "0", **form})

    r = post(png_upload(np.zeros((16, 16))))
    assert r.status_code == 422 and "16x16" in detail(r) and "8x8" in detail(r)
    rgb = png_upload(np.zeros((8, 8, 3)), mode="RGB")
    r = post(rgb)
    assert r.status_code == 422 and "3 channels" in detail(r)
    assert post(rgb, fit="true").status_code == 200
    assert post(png_upload(np.full((32, 20), 200)), fit="true").status_code == 200
    bomb = io.BytesIO()
    Image.new("1", (5000, 5000)).save(bomb, format="PNG")  # a few kB that unpack to 25 Mpixels
    r = post(bomb.getvalue(), fit="true")
    assert r.status_code == 422 and "5000x5000" in detail(r) and len(bomb.getvalue()) < 64 * 1024
    r = post(b"GIF89a but not really")
    assert r.status_code == 422 and "not an image" in detail(r)
    r = post(b"")
    assert r.status_code == 422 and "empty" in detail(r)
    r = client.post("/api/encode", data={"run": "0"})
    assert r.status_code == 422 and "file" in detail(r)
    r = client.post("/api/encode", files={"file": ("u.png", png_upload(np.zeros((8, 8))), "image/png")},
                    data={"run": "cvae"})
    assert r.status_code == 422 and "label" in detail(r)
    r = client.post("/api/encode", files={"file": ("u.png", png_upload(np.zeros((8, 8))), "image/png")},
                    data={"run": "cvae", "label": "4"})
    assert r.status_code == 200 and r.json()["items"][0]["label"] == 4


def test_upload_size_limit_is_413(client):
    big = b"\0" * (65 * 1024)
    r = client.post("/api/encode", files={"file": ("big.png", big, "image/png")}, data={"run": "0"})
    assert r.status_code == 413 and "larger" in detail(r)

    def chunks():  # no Content-Length: the limit holds while reading
        for _ in range(70):
            yield b"\0" * 1024

    r = client.post("/api/decode", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_encode_csv_rows(client):
    info = client.get("/api/runs/2").json()
    ex = client.get("/api/runs/2/examples/3").json()
    header = ",".join(f'"{c}"' for c in info["columns"])
    line = ",".join(str(v) for v in ex["row"])
    r = client.post("/api/encode", files={"file": ("r.csv", f"{header}\n{line}\n{line}\n".encode(), "text/csv")},
                    data={"run": "table"})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert len(items) == 2 and items[0]["z"] == pytest.approx(ex["z"], abs=1e-4)
    assert len(items[0]["recon"]["row"]) == 30

    def post(text: str):
        return client.post("/api/encode", files={"file": ("r.csv", text.encode(), "text/csv")}, data={"run": "table"})

    r = post("a,b\n1,2\n")
    assert r.status_code == 422 and "missing column" in detail(r)
    r = post(f"{header}\n{line.replace(str(ex['row'][0]), 'nan', 1)}\n")
    assert r.status_code == 422
    r = post(f"{header}\n{line.replace(str(ex['row'][0]), 'big', 1)}\n")
    assert r.status_code == 422 and "numeric" in detail(r)
    r = post(f"{header}\n")
    assert r.status_code == 422 and "no data rows" in detail(r)
    r = client.post("/api/encode", files={"file": ("r.csv", b"\xff\xfe\x00", "text/csv")}, data={"run": "table"})
    assert r.status_code == 422 and "UTF-8" in detail(r)


# --- the queue and the event loop ------------------------------------------------------------------
def test_full_queue_is_503_and_the_loop_stays_free(runs):
    from vaekit.serve.app import create_app

    app = create_app([runs["digits"]], max_in_flight=1)
    slot = app.app.state.slots.get("0")
    with TestClient(app) as c:
        slot.lock.acquire()  # the model is "busy": the first request waits in the thread pool
        try:
            first: dict = {}
            t = threading.Thread(target=lambda: first.update(r=c.post("/api/decode", json={"z": [0.0] * 16})))
            t.start()
            deadline = time.monotonic() + 10
            while app.app.state.gate.in_flight < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert app.app.state.gate.in_flight == 1
            r = c.post("/api/decode", json={"z": [0.0] * 16})
            assert r.status_code == 503 and r.headers["retry-after"] == "1" and "busy" in detail(r)
            # Inference runs off the event loop: other requests are answered meanwhile.
            assert c.get("/api/runs").status_code == 200
        finally:
            slot.lock.release()
        t.join(10)
        assert first["r"].status_code == 200


def test_bad_run_dirs_are_clear_errors(tmp_path):
    from vaekit.core.errors import RunDirError
    from vaekit.serve.app import create_app

    with pytest.raises(RunDirError, match="does not exist"):
        create_app([tmp_path / "missing"])
    with pytest.raises(RunDirError, match="not a run directory"):
        create_app([tmp_path])


# --- the benchmark's quick mode ------------------------------------------------------------------
def test_bench_serve_quick(runs, tmp_path):
    """bench/bench_serve.py --quick: a real server, real HTTP clients, a results file that resumes."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "bench" / "bench_serve.py"
    spec = importlib.util.spec_from_file_location("bench_serve", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    results, docs = tmp_path / "quick.jsonl", tmp_path / "quick.md"
    argv = ["--quick", "--reps", "1", "--run", str(runs["digits"]), "--results", str(results), "--docs", str(docs)]
    assert bench.main(argv) == 0
    import json

    (rec,) = [json.loads(line) for line in results.read_text().splitlines()]
    assert 0 < rec["p50_ms"] <= rec["p95_ms"] and rec["decodes_per_s"] > 0 and rec["n"] == 100
    text = docs.read_text()
    assert "<!-- bench:serve -->" in text and "decodes/s, 8 concurrent clients" in text
    assert bench.main(argv) == 0  # resumes: the finished repetition is not measured again
    assert len(results.read_text().splitlines()) == 1


# --- the command line ----------------------------------------------------------------------------
def test_cli_serve_warns_when_bound_wider_and_refuses_bad_input(runs, tmp_path):
    """`vaekit serve` in real subprocesses: the address it prints works; --host 0.0.0.0 warns; a
    missing run dir, a folder that is not a run, and a port in use are one-line errors."""
    import importlib.util
    import json
    import os
    import re
    import socket
    import subprocess
    import sys
    import urllib.request

    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    serve = [sys.executable, "-m", "vaekit", "serve"]
    proc = subprocess.Popen([*serve, str(runs["digits"]), "--host", "0.0.0.0", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        address = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert address, line
        with urllib.request.urlopen(address.group(0) + "api/runs", timeout=10) as r:
            assert json.loads(r.read())[0]["name"] == "digits"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert "warning: binding to 0.0.0.0" in err and "reachable from other machines" in err

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*serve, *args], capture_output=True, text=True, env=env, timeout=120)

    r = run(str(tmp_path / "missing"))
    assert r.returncode == 1 and r.stderr.startswith("vaekit: error: run directory") and "does not exist" in r.stderr
    r = run(str(tmp_path))
    assert r.returncode == 1 and "not a run directory" in r.stderr
    if importlib.util.find_spec("httptools") is None:
        r = run(str(runs["digits"]), "--http", "httptools")
        assert r.returncode == 1 and "needs the httptools package" in r.stderr
    r = run(str(runs["digits"]), "--port", "70000")
    assert r.returncode == 2 and "--port" in r.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        r = run(str(runs["digits"]), "--port", str(taken.getsockname()[1]))
    assert r.returncode == 1 and "cannot listen on 127.0.0.1" in r.stderr and "Traceback" not in r.stderr
