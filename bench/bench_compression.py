"""Lossless compression benchmark (issue 12): vaekit's bits-back coder (BB-ANS) against gzip, bz2,
lzma, zstd, PNG (optimize) and WebP lossless on the same 8-bit Fashion-MNIST test images and on
the `digits` test split; bits/dim and images/s, actual bits next to the model's -ELBO.

Protocol (bench/harness.py): every run is a fresh subprocess; each finished run is appended to
bench/results/compression/results.jsonl at once (a killed invocation resumes); VAE settings are
chosen on the validation split (select_on_validation, against the goal line = 0.75 x the best
classical codec on the same validation images); the test split is coded once per seed with the
chosen settings; >= 3 training seeds; classical codecs are deterministic (one run each).
Timings are recorded with the load average (this machine is shared: "measured under load").

    python3 bench/bench_compression.py            # full: writes docs/compression.md's tables
    python3 bench/bench_compression.py --quick    # toy sizes, seconds; writes bench/results/compression/quick.md
    python3 bench/bench_compression.py --only bitswap [--datasets digits]   # Bit-Swap vs the ladder's BB-ANS
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import io
import json
import lzma
import math
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from docs_sections import put_sections  # noqa: E402
from harness import (  # noqa: E402
    Harness, Job, Stat, fmt_num, goal, load_note, md_table, require_seeds, select_on_validation,
)

RESULTS = BENCH / "results" / "compression"
DOCS = BENCH.parent / "docs" / "compression.md"
ROOT = BENCH.parent

# Candidates (settings over the `compress` recipe), chosen on validation.
CANDIDATES = {
    "mlp-l32": [],
    "mlp-l64": ["model.latent_dim=64"],
}
# Hierarchical candidates (Bit-Swap section of issue 12): the `ladder` recipe (Sønderby et al. 2016)
# with a discrete likelihood, coded by BB-ANS over its layers (src/vaekit/tasks/compress/hierarchy.py).
# Free bits off and a short KL warm-up: the coder pays the true -ELBO. Chosen on validation.
LADDER_BASE = ["data.binarize=none", "model.likelihood=logistic", "objective.free_bits=0",
               "objective.warmup_epochs=0.5", "train.batch_size=128"]
LADDER_CANDIDATES = {
    "ladder-32-16-8": [],
    "ladder-32-16-8-wide": ["model.net={name='mlp', hidden=[512, 256], activation='silu'}"],
}
# v2: lower layers on an equal-width grid, posterior tables cut to mu +- 7 sigma (hierarchy.py);
# v1 (the N(0, 1) grid everywhere, full tables) paid 5-7 % over the -ELBO on `digits`.
LADDER_CODER = "ladder-v2"
LADDER_FULL = {"fashion": {"epochs": 4, "val_n": 1000, "test_n": None, "seeds": [0, 1, 2]},
               "digits": {"epochs": 150, "val_n": None, "test_n": None, "seeds": [0, 1, 2]}}
LADDER_QUICK = {"fashion": {"epochs": 1, "val_n": 50, "test_n": 30, "seeds": [0], "limit": 600,
                            "candidates": ["ladder-32-16-8"]},
                "digits": {"epochs": 2, "val_n": None, "test_n": 30, "seeds": [0], "candidates": ["ladder-32-16-8"]}}
FULL = {"fashion": {"epochs": 4, "val_n": 1000, "test_n": None, "seeds": [0, 1, 2]},
        "digits": {"epochs": 150, "val_n": None, "test_n": None, "seeds": [0, 1, 2]}}
QUICK = {"fashion": {"epochs": 1, "val_n": 50, "test_n": 30, "seeds": [0], "limit": 600, "candidates": ["mlp-l32"]},
         "digits": {"epochs": 2, "val_n": None, "test_n": 30, "seeds": [0], "candidates": ["mlp-l32"]}}
DATA = {"fashion": "fashion-mnist", "digits": "digits"}


# ----------------------------------------------------------------------------- worker side
def _split_uint8(run: Any, split: str, n: int | None) -> Any:
    """The split's raw grey levels as uint8 (N, H, W) through the run's saved preprocessing."""
    import numpy as np

    from vaekit.tasks.data import split_data

    x, _ = split_data(run, split)
    levels = run.dataset["levels"]
    x = x[:n] if n else x
    return np.rint(x.numpy()[:, 0] * (levels - 1)).astype(np.uint8)


def worker_train(args: dict[str, Any]) -> dict[str, Any]:
    import vaekit
    from vaekit.tasks.compress.rate import negative_elbo_bits_per_dim

    import shutil

    # The harness runs this job only when its record is missing, so a folder already there is the
    # remains of a killed run (or of a deleted results file): start it afresh.
    shutil.rmtree(args["out"], ignore_errors=True)
    t0 = time.perf_counter()
    out = vaekit.train(args.get("recipe", "compress"), data=args["data"], epochs=args["epochs"], seed=args["seed"], out=args["out"],
                       overrides=args["overrides"], echo=None, progress=False, report=False)
    train_s = time.perf_counter() - t0
    run = vaekit.load(out)
    x = _split_uint8(run, "val", args["val_n"])
    bpd = negative_elbo_bits_per_dim(run, x, k=10)
    return {"split": "val", "neg_elbo_bpd": bpd, "neg_bpd": -bpd, "cost_s": train_s, "n": int(len(x))}


def worker_code(args: dict[str, Any]) -> dict[str, Any]:
    import vaekit
    from vaekit.tasks.compress.rate import rate_table

    run = vaekit.load(args["run"])
    x = _split_uint8(run, args["split"], args["n"])
    counts = tuple(c for c in (1, 100) if c < len(x)) + (-1,)
    rows = rate_table(run, x, counts, k=10)
    return {"split": args["split"], "rows": rows, "n": int(len(x))}


def worker_borrow(args: dict[str, Any]) -> dict[str, Any]:
    """Bits each layer of a hierarchical run borrows from the stack, measured on the real encoder's
    stack: per test image, the drop in its size at each pop, and the most the image needed from the
    stack it found (the ladder pops all layers before any push; Bit-Swap interleaves)."""
    import numpy as np

    import vaekit
    from vaekit.tasks.compress.api import _coder
    from vaekit.tasks.compress.symbols import alphabet, to_symbols

    run = vaekit.load(args["run"])
    a = alphabet(run)
    x = _split_uint8(run, "test", args["n"])
    coder = _coder(run, a, 12)
    trace: list[tuple[int, str, int]] = []
    coder.encode(to_symbols(x, a), trace=lambda i, step, bits: trace.append((i, step, bits)))
    steps_of: dict[int, list[tuple[str, int]]] = {}
    for i, step, bits in trace:
        steps_of.setdefault(i, []).append((step, bits))
    layers = len(coder.dims)
    borrowed, deficit = [], []  # (N, layers): bits popped for layer 1 (bottom) .. T;  (N,): most the image owed
    for i in sorted(steps_of):
        steps, row = steps_of[i], {}
        for (_, before), (step, after) in zip(steps, steps[1:]):
            if step.startswith("q"):  # a pop: the stack shrinks by the bits this layer took
                row[int(step[1:])] = before - after
        borrowed.append([row[k] for k in range(1, layers + 1)])
        # What the image needed from the stack it found: its start size minus the lowest size after
        # any of its steps (BB-ANS over the layers: every pop's sum; Bit-Swap: about one layer's).
        deficit.append(steps[0][1] - min(bits for _, bits in steps))
    b, d = np.array(borrowed, dtype=float), np.array(deficit, dtype=float)
    return {"split": "test", "n": int(len(x)), "first": b[0].tolist(), "mean": b.mean(0).tolist(),
            "max_total": float(b.sum(1).max()), "reserved": 16 * coder.settings.init_symbols,
            "deficit_first": float(d[0]), "deficit_mean": float(d.mean()), "deficit_max": float(d.max())}


def _codecs() -> dict[str, tuple[Any, Any, bool]]:
    """name -> (encode(bytes or image) -> bytes, decode, per_image)."""
    import numpy as np
    import zstandard
    from PIL import Image

    def png(im: Any) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(im).save(buf, format="PNG", optimize=True)
        return buf.getvalue()

    def webp(im: Any) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(im).save(buf, format="WEBP", lossless=True, quality=100, method=6)
        return buf.getvalue()

    def unimage(b: bytes) -> Any:
        with Image.open(io.BytesIO(b)) as img:
            return np.asarray(img.convert("L"))

    return {
        "gzip -9": (lambda b: gzip.compress(b, 9, mtime=0), gzip.decompress, False),
        "bz2 -9": (lambda b: bz2.compress(b, 9), bz2.decompress, False),
        "lzma -9e": (lambda b: lzma.compress(b, preset=9 | lzma.PRESET_EXTREME), lzma.decompress, False),
        "zstd -22": (lambda b: zstandard.ZstdCompressor(level=22).compress(b),
                     lambda b: zstandard.ZstdDecompressor().decompress(b), False),
        "PNG (optimize)": (png, unimage, True),
        "WebP lossless": (webp, unimage, True),
    }


def worker_classical(args: dict[str, Any]) -> dict[str, Any]:
    """Every classical codec on the same images (the data files of the first VAE run)."""
    import numpy as np

    import vaekit

    run = vaekit.load(args["run"])
    x = _split_uint8(run, args["split"], args["n"])
    out = {}
    for name, (enc, dec, per_image) in _codecs().items():
        t0 = time.perf_counter()
        blobs = [enc(im) for im in x] if per_image else [enc(x.tobytes())]
        t1 = time.perf_counter()
        back = [dec(b) for b in blobs]
        t2 = time.perf_counter()
        same = np.array_equal(np.stack(back), x) if per_image else back[0] == x.tobytes()
        if not same:
            raise AssertionError(f"{name} did not round-trip")
        size = sum(len(b) for b in blobs)
        out[name] = {"bits_per_dim": 8 * size / x.size, "bytes": size, "encode_per_s": len(x) / (t1 - t0),
                     "decode_per_s": len(x) / (t2 - t1), "per_image": per_image}
    return {"split": args["split"], "codecs": out, "n": int(len(x))}


def _psnr(recon: Any, x: Any, peak: float = 255.0) -> float:
    """Mean over images of 10 log10(peak^2 / MSE) (MSE over the image's pixels)."""
    import numpy as np

    mse = ((recon.astype(np.float64) - x.astype(np.float64)) ** 2).reshape(len(x), -1).mean(1)
    return float(np.mean(10 * np.log10(peak ** 2 / np.maximum(mse, 1e-12))))


def _msssim(recon: Any, x: Any, peak: float = 255.0) -> float:
    """Mean over images of MS-SSIM (Wang et al. 2003) as vaekit's perceptual term computes it:
    3 scales (28x28 images do not fit the paper's 5), 7x7 Gaussian windows, exponents renormalised."""
    import torch

    from vaekit.core.build import BuildContext
    from vaekit.parts.perceptual import MSSSIMTerm

    a = torch.from_numpy(x.astype("float32") / peak)[:, None]
    b = torch.from_numpy(recon.astype("float32") / peak)[:, None]
    term = MSSSIMTerm(BuildContext(shape=tuple(a.shape[1:])), weight=1.0)
    with torch.no_grad():
        return float((1.0 - term(a, b)).mean())


def _mosaic(x: Any) -> Any:
    """(N, H, W) -> one image with the N images in rows of ceil(sqrt N) (zero padding)."""
    import numpy as np

    n, hh, ww = x.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    pad = np.zeros((rows * cols, hh, ww), dtype=x.dtype)
    pad[:n] = x
    return pad.reshape(rows, cols, hh, ww).transpose(0, 2, 1, 3).reshape(rows * hh, cols * ww)


def _unmosaic(m: Any, n: int, hh: int, ww: int) -> Any:
    cols = m.shape[1] // ww
    rows = m.shape[0] // hh
    return m.reshape(rows, hh, cols, ww).transpose(0, 2, 1, 3).reshape(rows * cols, hh, ww)[:n]


def worker_lossy_vae(args: dict[str, Any]) -> dict[str, Any]:
    import vaekit
    from vaekit.tasks.compress import compress, decompress

    run = vaekit.load(args["run"])
    x = _split_uint8(run, "test", args["n"])
    points = []
    for quality in args["qualities"]:
        t0 = time.perf_counter()
        data = compress(run, x, lossy=True, quality=quality)
        t1 = time.perf_counter()
        recon = decompress(run, data)
        t2 = time.perf_counter()
        points.append({"quality": quality, "bpp": 8 * len(data) / x.size, "psnr": _psnr(recon, x),
                       "msssim": _msssim(recon, x),
                       "encode_per_s": len(x) / (t1 - t0), "decode_per_s": len(x) / (t2 - t1)})
    return {"split": "test", "n": int(len(x)), "points": points}


def worker_lossy_classical(args: dict[str, Any]) -> dict[str, Any]:
    import numpy as np
    from PIL import Image

    import vaekit

    run = vaekit.load(args["run"])
    x = _split_uint8(run, "test", args["n"])

    def roundtrip(im: Any, fmt: str, quality: int) -> tuple[int, Any]:
        buf = io.BytesIO()
        kw = {"quality": quality, "optimize": True} if fmt == "JPEG" else {"quality": quality, "method": 6}
        Image.fromarray(im).save(buf, format=fmt, **kw)
        with Image.open(io.BytesIO(buf.getvalue())) as img:
            return len(buf.getvalue()), np.asarray(img.convert("L"))

    out = []
    for fmt, qualities in (("JPEG", args["jpeg"]), ("WEBP", args["webp"])):
        for quality in qualities:
            sizes, recon = zip(*(roundtrip(im, fmt, quality) for im in x))
            out.append({"codec": f"{fmt} per image", "quality": quality, "bpp": 8 * sum(sizes) / x.size,
                        "psnr": _psnr(np.stack(recon), x), "msssim": _msssim(np.stack(recon), x)})
            size, m = roundtrip(_mosaic(x), fmt, quality)
            back = _unmosaic(m, *x.shape)
            out.append({"codec": f"{fmt} one mosaic of all images", "quality": quality, "bpp": 8 * size / x.size,
                        "psnr": _psnr(back, x), "msssim": _msssim(back, x)})
    return {"split": "test", "n": int(len(x)), "points": out}


WORKERS = {"train": worker_train, "code": worker_code, "borrow": worker_borrow, "classical": worker_classical, "lossy_vae": worker_lossy_vae,
           "lossy_classical": worker_lossy_classical}
LOSSY = {"n": 1000, "qualities": list(range(1, 11)), "jpeg": [1, 5, 10, 20, 40, 60, 80, 95],
         "webp": [0, 5, 10, 25, 50, 75, 95]}
LOSSY_QUICK = {"n": 20, "qualities": [1, 10], "jpeg": [1, 50], "webp": [0, 50]}


def run_lossy(h: Harness, cfg: dict[str, Any], lcfg: dict[str, Any]) -> dict[str, Any]:
    sel, trained, _, _ = chosen_runs(h, "fashion", cfg)
    vae = []
    for rec in trained:
        run_dir = rec["figures"]["run"]
        vae.append(h.run(Job("compression-lossy", f"vaekit-{sel.chosen}", rec["seed"],
                             {"n": lcfg["n"], "qualities": lcfg["qualities"], "train_key": rec["key"], "metrics": 2},
                             lambda ctx, run_dir=run_dir: _call(ctx, "lossy_vae", {"run": run_dir, **lcfg}),
                             split="test", purpose="quality", selection=sel, label="lossy")))
    classical = h.run(Job("compression-lossy-classical", "classical", 0, {**lcfg, "metrics": 2},
                          lambda ctx: _call(ctx, "lossy_classical", {"run": trained[0]["figures"]["run"], **lcfg}),
                          split="test", purpose="speed", label="lossy JPEG/WebP"))
    return {"selection": sel, "vae": vae, "classical": classical}


def _interp(points: list[tuple[float, float]], rate: float) -> float | None:
    """PSNR at ``rate`` by linear interpolation in (bpp, PSNR); None outside the measured range."""
    pts = sorted(points)
    for (r0, p0), (r1, p1) in zip(pts, pts[1:]):
        if r0 <= rate <= r1:
            return p0 + (p1 - p0) * (rate - r0) / (r1 - r0) if r1 > r0 else max(p0, p1)
    return None


RD_PLOT = ROOT / "docs" / "images" / "compression-rd.png"


def plot_rd(res: dict[str, Any], path: Path) -> None:
    """The rate-distortion plot of the lossy table's records: bits per pixel (log scale) vs PSNR
    (left) and vs MS-SSIM (right); vaekit --lossy as the mean over seeds with ± sd bars, JPEG and
    WebP per image and as one mosaic."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    vae = res["vae"]
    nq = len(vae[0]["figures"]["points"])
    series: dict[str, list[tuple[float, float, float, float, float]]] = {}  # name -> [(bpp, psnr, sd, msssim, sd)]
    for i in range(nq):
        pts = [v["figures"]["points"][i] for v in vae]
        b, p, m = (Stat.of(pt[k] for pt in pts) for k in ("bpp", "psnr", "msssim"))
        series.setdefault(f"vaekit --lossy (Q 1–{nq}, {len(vae)} seeds)", []).append((b.mean, p.mean, p.sd if p.n > 1 else 0.0,
                                                                                    m.mean, m.sd if m.n > 1 else 0.0))
    for pt in res["classical"]["figures"]["points"]:
        series.setdefault(pt["codec"].replace("WEBP", "WebP"), []).append((pt["bpp"], pt["psnr"], 0.0, pt["msssim"], 0.0))
    styles = {"vaekit": ("tab:red", "o", "-"), "JPEG per": ("tab:blue", "s", "--"), "JPEG one": ("tab:blue", "s", "-"),
              "WebP per": ("tab:green", "^", "--"), "WebP one": ("tab:green", "^", "-")}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, pts in series.items():
        pts.sort()
        color, marker, ls = next(v for k, v in styles.items() if name.startswith(k))
        x = [q[0] for q in pts]
        for ax, (j, sd) in zip(axes, ((1, 2), (3, 4))):
            ax.errorbar(x, [q[j] for q in pts], yerr=[q[sd] for q in pts], color=color, marker=marker, linestyle=ls,
                        markersize=4, capsize=2, label=name)
    n = vae[0]["figures"]["n"]
    for ax, ylabel in zip(axes, ("PSNR (dB)", "MS-SSIM (3 scales, 7×7 windows)")):
        ax.set_xscale("log")
        ax.set_xlabel("bits per pixel (file bytes × 8 / pixels)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8, loc="upper left")
    fig.suptitle(f"Lossy coding, first {n:,} Fashion-MNIST test images (8-bit 28×28): rate vs distortion", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render_lossy(res: dict[str, Any], quick: bool, cmd: str) -> str:
    vae = res["vae"]
    require_seeds({"vaekit": len(vae)}, quick, "compression/lossy")
    n = vae[0]["figures"]["n"]
    lines = [f"**Lossy, Fashion-MNIST**, first {n:,} test images (8-bit, 28×28); VAE = the runs of the lossless table "
             f"(`{res['selection'].chosen}`), {len(vae)} seed(s); PSNR = mean over images of 10 log10(255² / MSE); "
             "bits per pixel = file bytes × 8 / pixels (the VAE codes all images as one stream; JPEG (Pillow, "
             "optimize) and WebP (Pillow, method 6) either per image or as one mosaic of all the images, which "
             "shares their headers).", ""]
    rows = []
    qualities = [p["quality"] for p in vae[0]["figures"]["points"]]
    for i, q in enumerate(qualities):
        pts = [v["figures"]["points"][i] for v in vae]
        rows.append([f"vaekit --lossy --quality {q}", Stat.of(p["bpp"] for p in pts).fmt(3),
                     Stat.of(p["psnr"] for p in pts).fmt(2), Stat.of(p["msssim"] for p in pts).fmt(3)])
    for p in res["classical"]["figures"]["points"]:
        rows.append([f"{p['codec']}, quality {p['quality']}", f"{p['bpp']:.3f}", f"{p['psnr']:.2f}",
                     f"{p['msssim']:.3f}"])
    lines.append(md_table(["codec", "bits/pixel", "PSNR (dB)", "MS-SSIM"], rows))
    # Equal-rate comparison in the VAE's range: each classical point whose rate the VAE also spans.
    vae_pts = [(Stat.of(v["figures"]["points"][i]["bpp"] for v in vae).mean,
                Stat.of(v["figures"]["points"][i]["psnr"] for v in vae).mean) for i in range(len(qualities))]
    top = max(r for r, _ in vae_pts)
    lines += ["", f"At equal rate (VAE PSNR interpolated between its qualities, rates up to {top:.3f} bits/pixel):"]
    found = False
    for codec in sorted({p["codec"] for p in res["classical"]["figures"]["points"]}):
        pts = [p for p in res["classical"]["figures"]["points"] if p["codec"] == codec]
        low = min(pts, key=lambda p: p["bpp"])
        inside = [p for p in pts if _interp(vae_pts, p["bpp"]) is not None]
        for p in inside:
            found = True
            v = _interp(vae_pts, p["bpp"])
            vs = [(v_["figures"]["points"][i]["bpp"], v_["figures"]["points"][i]["psnr"]) for v_ in vae
                  for i in range(len(qualities))]
            per_seed = [_interp([pt for pt in vs[k * len(qualities):(k + 1) * len(qualities)]], p["bpp"])
                        for k in range(len(vae))]
            seeds = Stat.of(x for x in per_seed if x is not None)
            lines.append(f"- {codec} quality {p['quality']}: {p['bpp']:.3f} bits/pixel, {p['psnr']:.2f} dB vs "
                         f"vaekit {seeds.fmt(2)} dB (interpolated per seed): "
                         f"{'vaekit better' if seeds.n and min(seeds.values) > p['psnr'] else 'not better on every seed'}")
        if not inside:
            lines.append(f"- {codec}: its lowest rate is {low['bpp']:.3f} bits/pixel ({low['psnr']:.2f} dB, quality "
                         f"{low['quality']}), above every rate of the VAE: no equal-rate point")
    if not found:
        lines.append("- no classical point falls inside the VAE's rate range; the goal 'better PSNR than JPEG and WebP "
                     "at equal rate' cannot be judged on these points (see the rows above)")
    lines += ["", "MS-SSIM: mean over images, computed by vaekit's perceptual term (`vaekit.parts.perceptual`, "
              "Wang et al. 2003) with 3 scales and 7×7 windows, since 28×28 images do not fit the paper's 5 scales "
              f"of 11×11 windows: not comparable with 5-scale figures. {load_note(vae + [res['classical']])}.", ""]
    if not quick:
        lines += [f"![Rate–distortion: bits per pixel vs PSNR and vs MS-SSIM for vaekit --lossy, JPEG and WebP]"
                  f"(images/{RD_PLOT.name})", "",
                  f"The plot (`docs/images/{RD_PLOT.name}`, written by the same command from the records above): "
                  "bits per pixel on a log axis; vaekit's points are the mean over seeds with ± 1 sd bars; dashed "
                  "lines code each image on its own, solid lines all images as one stream or mosaic.", ""]
    lines += [f"Command: `{cmd}`"]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- hierarchical runs (ladder)
# Latent layer sizes per candidate: the initial bits BB-ANS reserves are 16 x (ceil(12 x sum L_i / 16) + 4)
# (src/vaekit/tasks/compress/hierarchy.py); Bit-Swap's ordering would lend about the largest layer's share.
LATENTS = {"mlp-l32": (32,), "mlp-l64": (64,), "ladder-32-16-8": (32, 16, 8), "ladder-32-16-8-wide": (32, 16, 8)}


def init_bits(candidate: str, latent_bits: int = 12) -> int:
    return 16 * (math.ceil(latent_bits * sum(LATENTS[candidate]) / 16) + 4)


def _hierarchy_train_job(h: Harness, recipe: str, base: list[str], candidates: dict[str, Any], dataset: str, cand: str,
                         seed: int, cfg: dict[str, Any]) -> Job:
    """Training one hierarchical (``ladder`` or ``bitswap``) candidate; the job's name and settings
    are those the records were cached under."""
    overrides = base + list(candidates[cand]) + ([f"data.limit={cfg['limit']}"] if cfg.get("limit") else [])
    settings = {"dataset": dataset, "candidate": cand, "recipe": recipe, "epochs": cfg["epochs"],
                "val_n": cfg["val_n"], "overrides": overrides}
    job = Job(f"compression-{recipe}-train", f"vaekit-{cand}", seed, settings, lambda ctx: {}, split="val",
              purpose="quality", label=f"{dataset} {cand}")
    out = h.artifact_dir(job)
    job.fn = lambda ctx: {**_call(ctx, "train", {"recipe": recipe, "data": DATA[dataset], "epochs": cfg["epochs"],
                                                 "seed": seed, "out": str(out), "overrides": overrides,
                                                 "val_n": cfg["val_n"]}), "run": str(out)}
    job.artifacts = [str(out / "model.safetensors")]
    return job


def _ladder_train_job(h: Harness, dataset: str, cand: str, seed: int, cfg: dict[str, Any]) -> Job:
    return _hierarchy_train_job(h, "ladder", LADDER_BASE, LADDER_CANDIDATES, dataset, cand, seed, cfg)


def _code_job(dataset: str, cand: str, seed: int, n: int | None, rec: dict[str, Any], sel: Any,
              coder: str | None = None) -> Job:
    """The test images coded once by one trained run (same key form as run_dataset's jobs; ``coder``
    tags a coder version, so records made by an earlier ladder coder are not reused)."""
    run_dir = rec["figures"]["run"]
    settings = {"dataset": dataset, "n": n, "train_key": rec["key"], "container": 2, **({"coder": coder} if coder else {})}
    return Job("compression-code", f"vaekit-{cand}", seed, settings,
               lambda ctx: _call(ctx, "code", {"run": run_dir, "split": "test", "n": n}),
               split="test", purpose="quality", selection=sel, label=f"{dataset} test ({cand})")


def run_ladder(h: Harness, dataset: str, cfg: dict[str, Any], vae_cfg: dict[str, Any]) -> dict[str, Any]:
    """Ladder candidates on validation (same goal line as the VAE's), the chosen one with every
    seed coded on the test images, and the VAE's chosen runs and the classical codecs coded on the
    very same images (cached records where the main table already has them)."""
    if cfg["val_n"] != vae_cfg["val_n"]:
        raise ValueError("the ladder and the VAE must be selected on the same validation images")
    vae_sel, vae_trained, _, val_classical = chosen_runs(h, dataset, vae_cfg)
    seeds = cfg["seeds"]
    names = cfg.get("candidates", list(LADDER_CANDIDATES))
    cands = {c: h.run(_ladder_train_job(h, dataset, c, seeds[0], cfg), need_artifacts=True) for c in names}
    best_val = min(c["bits_per_dim"] for c in val_classical["figures"]["codecs"].values())
    sel = select_on_validation({c: [r["figures"]] for c, r in cands.items()}, [{"split": "val", "neg_bpd": -0.75 * best_val}],
                               quality="neg_bpd")
    trained = [h.run(_ladder_train_job(h, dataset, sel.chosen, s, cfg), need_artifacts=True) for s in seeds]
    n = cfg["test_n"]
    coded = [h.run(_code_job(dataset, sel.chosen, s, n, rec, sel, coder=LADDER_CODER)) for s, rec in zip(seeds, trained)]
    vae_coded = [h.run(_code_job(dataset, vae_sel.chosen, s, n, rec, vae_sel))
                 for s, rec in zip(vae_cfg["seeds"], vae_trained)]
    borrow = [h.run(Job("compression-ladder-borrow", f"vaekit-{sel.chosen}", s,
                        {"dataset": dataset, "n": 100, "train_key": rec["key"], "coder": LADDER_CODER},
                        lambda ctx, run_dir=rec["figures"]["run"]: _call(ctx, "borrow", {"run": run_dir, "n": 100}),
                        split="test", purpose="quality", selection=sel, label=f"{dataset} bits borrowed"))
              for s, rec in zip(seeds, trained)]
    classical = h.run(Job("compression-classical", "classical", 0, {"dataset": dataset, "split": "test", "n": n},
                          lambda ctx: _call(ctx, "classical", {"run": trained[0]["figures"]["run"], "split": "test",
                                                               "n": n}),
                          split="test", purpose="speed"))
    return {"cands": cands, "selection": sel, "trained": trained, "coded": coded, "vae_selection": vae_sel,
            "vae_coded": vae_coded, "classical": classical, "cfg": cfg, "borrow": borrow}


def render_ladder(dataset: str, res: dict[str, Any], quick: bool, cmd: str) -> str:
    coded, vae_coded, sel, cfg = res["coded"], res["vae_coded"], res["selection"], res["cfg"]
    require_seeds({"ladder": len(coded), "vae": len(vae_coded)}, quick, f"compression/ladder-{dataset}")
    n = coded[0]["figures"]["n"]
    total = {"fashion": 10000, "digits": 180}.get(dataset)
    which = (f"the first {n:,} of the {total:,} test images" if total and n < total and not quick
             else f"{n:,} test images")
    vals = "; ".join(f"`{name}` {-q.mean:.3f}" for name, q, _, _ in sel.rows)
    lines = [f"**{dataset}, hierarchical run**: {which}; ladder = `ladder` recipe (latents 32-16-8) with "
             f"`{' '.join(LADDER_BASE)}`, {cfg['epochs']} epochs, settings `{sel.chosen}` chosen on validation "
             f"(−ELBO bits/dim: {vals}), {len(coded)} training seed(s), coded by BB-ANS over its layers; VAE = the "
             f"`compress`-recipe runs of the table above (`{res['vae_selection'].chosen}`), coded on the same images.", ""]

    def row(name: str, cand: str, recs: list[dict[str, Any]]) -> list[str]:
        rs = [c["figures"]["rows"][-1] for c in recs]
        return [name, Stat.of(r["bits_per_dim"] for r in rs).fmt(3), Stat.of(r["payload_bits_per_dim"] for r in rs).fmt(3),
                Stat.of(r["neg_elbo_bits_per_dim"] for r in rs).fmt(3),
                Stat.of(100 * (r["payload_bits_per_dim"] / r["neg_elbo_bits_per_dim"] - 1) for r in rs).fmt(2),
                f"{init_bits(cand):,}", Stat.of(r["encode_per_s"] for r in rs).fmt(1),
                Stat.of(r["decode_per_s"] for r in rs).fmt(1)]

    rows = [row("vaekit ladder, BB-ANS over 3 layers", sel.chosen, coded),
            row("vaekit VAE (1 layer), BB-ANS", res["vae_selection"].chosen, vae_coded)]
    codecs = res["classical"]["figures"]["codecs"]
    best_name = min(codecs, key=lambda k: codecs[k]["bits_per_dim"])
    rows.append([f"{best_name} (best classical codec on these images)", f"{codecs[best_name]['bits_per_dim']:.3f}",
                 "", "", "", "", fmt_num(codecs[best_name]["encode_per_s"], 1),
                 fmt_num(codecs[best_name]["decode_per_s"], 1)])
    lines.append(md_table(["coder", "bits/dim (file)", "bits/dim (payload)", "−ELBO bits/dim", "payload over −ELBO (%)",
                           "initial bits", "encode images/s", "decode images/s"], rows))
    by_n: dict[int, dict[str, list[dict[str, Any]]]] = {}
    for side, recs in (("ladder", coded), ("vae", vae_coded)):
        for c in recs:
            for r in c["figures"]["rows"]:
                by_n.setdefault(r["n"], {"ladder": [], "vae": []})[side].append(r)
    rrows = []
    for k in sorted(by_n):
        lad, vae = by_n[k]["ladder"], by_n[k]["vae"]
        rrows.append([f"{k:,}", Stat.of(r["bits_per_dim"] for r in lad).fmt(4),
                      Stat.of(r["payload_bits_per_dim"] for r in lad).fmt(4),
                      Stat.of(r["neg_elbo_bits_per_dim"] for r in lad).fmt(4),
                      Stat.of(100 * (r["payload_bits_per_dim"] / r["neg_elbo_bits_per_dim"] - 1) for r in lad).fmt(2),
                      Stat.of(100 * (r["payload_bits_per_dim"] / r["neg_elbo_bits_per_dim"] - 1) for r in vae).fmt(2)])
    lines += ["", md_table(["images coded", "ladder bits/dim (file)", "ladder bits/dim (payload)", "ladder −ELBO bits/dim",
                            "ladder payload over −ELBO (%)", "VAE payload over −ELBO (%)"], rrows)]
    bor = [b["figures"] for b in res["borrow"]]
    nb = bor[0]["n"]
    layer_first = ", ".join(f"z_{k + 1} {Stat.of(b['first'][k] for b in bor).fmt(0)}" for k in range(len(bor[0]["first"])))
    layer_mean = ", ".join(f"z_{k + 1} {Stat.of(b['mean'][k] for b in bor).fmt(1)}" for k in range(len(bor[0]["mean"])))
    lines += ["", f"Bits borrowed from the stack, measured on the encoder's stack (all layers are popped before anything "
              f"is pushed): the first test image took {Stat.of(sum(b['first']) for b in bor).fmt(0)} bits ({layer_first}) "
              f"of the {bor[0]['reserved']:,} reserved; over the first {nb} images, per image {layer_mean} "
              f"(largest total {Stat.of(b['max_total'] for b in bor).fmt(0)}). A Bit-Swap ordering borrows one layer "
              f"at a time, so about the largest single layer's share."]
    lines += ["", f"Initial bits: what the first image borrows before anything is on the stack, 16 × (⌈12 × L / 16⌉ + 4) "
              f"for L latent dimensions in all; the ladder pops all of its {sum(LATENTS[sel.chosen])} dimensions "
              f"before it can push anything, so it reserves {init_bits(sel.chosen):,} bits where a Bit-Swap ordering "
              f"of a Markov hierarchy of the same sizes would need about its largest layer's "
              f"{16 * (math.ceil(12 * max(LATENTS[sel.chosen]) / 16) + 4):,}. "
              f"Speeds measured under load ({load_note(coded + vae_coded)}); one process, the coder on one thread. "
              "−ELBO: k = 10 importance-sample estimate, nats → bits/dim by / (D ln 2).", "", f"Command: `{cmd}`"]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- Markov hierarchy (Bit-Swap)
# The `bitswap` recipe (src/vaekit/models/markov_hierarchy.py, latents 32-16-8 as the ladder's) coded
# by Bit-Swap (src/vaekit/tasks/compress/bitswap.py; Kingma, Abbeel & Ho 2019), against the ladder's
# BB-ANS over all layers and the one-layer VAE on the same test images. Same protocol as the ladder:
# candidates on validation against the same goal line, 3 seeds, the test images coded once per seed.
BITSWAP_BASE = ["objective.warmup_epochs=0.5", "train.batch_size=128"]  # the recipe's own; free bits off
BITSWAP_CANDIDATES = {
    "bitswap-32-16-8": [],  # the recipe: MLP 512-256 (SiLU), between-layer nets 128 / 64
    "bitswap-32-16-8-narrow": ["model.net={name='mlp', hidden=[256, 128], activation='silu'}"],
}
BITSWAP_CODER = "bitswap-v1"
BITSWAP_FULL = {"fashion": {"epochs": 4, "val_n": 1000, "test_n": None, "seeds": [0, 1, 2]},
                "digits": {"epochs": 150, "val_n": None, "test_n": None, "seeds": [0, 1, 2]}}
BITSWAP_QUICK = {"fashion": {"epochs": 1, "val_n": 50, "test_n": 30, "seeds": [0], "limit": 600,
                             "candidates": ["bitswap-32-16-8"]},
                 "digits": {"epochs": 2, "val_n": None, "test_n": 30, "seeds": [0], "candidates": ["bitswap-32-16-8"]}}
LATENTS.update({c: (32, 16, 8) for c in BITSWAP_CANDIDATES})


def bitswap_init_bits(candidate: str, latent_bits: int = 12) -> int:
    """What Bit-Swap reserves: 16 x (ceil(12 x max L_i / 16) + 4) (src/vaekit/tasks/compress/bitswap.py)."""
    return 16 * (math.ceil(latent_bits * max(LATENTS[candidate]) / 16) + 4)


def _bitswap_train_job(h: Harness, dataset: str, cand: str, seed: int, cfg: dict[str, Any]) -> Job:
    return _hierarchy_train_job(h, "bitswap", BITSWAP_BASE, BITSWAP_CANDIDATES, dataset, cand, seed, cfg)


def run_bitswap(h: Harness, dataset: str, cfg: dict[str, Any], ladder_cfg: dict[str, Any],
                vae_cfg: dict[str, Any]) -> dict[str, Any]:
    """Bit-Swap candidates on validation (the VAE's goal line), the chosen one with every seed coded
    on the test images; the ladder's and the VAE's records on the very same images (cached)."""
    if cfg["val_n"] != vae_cfg["val_n"] or cfg["test_n"] != ladder_cfg["test_n"]:
        raise ValueError("Bit-Swap, the ladder and the VAE must be compared on the same images")
    ladder = run_ladder(h, dataset, ladder_cfg, vae_cfg)
    val_classical = chosen_runs(h, dataset, vae_cfg)[3]
    seeds = cfg["seeds"]
    names = cfg.get("candidates", list(BITSWAP_CANDIDATES))
    cands = {c: h.run(_bitswap_train_job(h, dataset, c, seeds[0], cfg), need_artifacts=True) for c in names}
    best_val = min(c["bits_per_dim"] for c in val_classical["figures"]["codecs"].values())
    sel = select_on_validation({c: [r["figures"]] for c, r in cands.items()}, [{"split": "val", "neg_bpd": -0.75 * best_val}],
                               quality="neg_bpd")
    trained = [h.run(_bitswap_train_job(h, dataset, sel.chosen, s, cfg), need_artifacts=True) for s in seeds]
    n = cfg["test_n"]
    coded = [h.run(_code_job(dataset, sel.chosen, s, n, rec, sel, coder=BITSWAP_CODER)) for s, rec in zip(seeds, trained)]
    borrow = [h.run(Job("compression-bitswap-borrow", f"vaekit-{sel.chosen}", s,
                        {"dataset": dataset, "n": 100, "train_key": rec["key"], "coder": BITSWAP_CODER},
                        lambda ctx, run_dir=rec["figures"]["run"]: _call(ctx, "borrow", {"run": run_dir, "n": 100}),
                        split="test", purpose="quality", selection=sel, label=f"{dataset} bits borrowed (Bit-Swap)"))
              for s, rec in zip(seeds, trained)]
    return {"cands": cands, "selection": sel, "trained": trained, "coded": coded, "borrow": borrow, "cfg": cfg,
            "ladder": ladder}


def _deficits(borrow: list[dict[str, Any]]) -> dict[str, Stat]:
    """The bits an image needed from the stack it found (start minus the lowest size during it). The
    ladder's records from before this measure existed give it as the sum of the pops, which is
    the same number for its order (every pop precedes every push)."""
    figs = [b["figures"] for b in borrow]
    return {"first": Stat.of(f.get("deficit_first", sum(f["first"])) for f in figs),
            "mean": Stat.of(f["deficit_mean"] for f in figs) if all("deficit_mean" in f for f in figs) else None,
            "max": Stat.of(f.get("deficit_max", f["max_total"]) for f in figs)}


def render_bitswap(dataset: str, res: dict[str, Any], quick: bool, cmd: str) -> str:
    coded, sel, cfg, lad = res["coded"], res["selection"], res["cfg"], res["ladder"]
    require_seeds({"bitswap": len(coded), "ladder": len(lad["coded"]), "vae": len(lad["vae_coded"])}, quick,
                  f"compression/bitswap-{dataset}")
    n = coded[0]["figures"]["n"]
    vals = "; ".join(f"`{name}` {-q.mean:.3f}" for name, q, _, _ in sel.rows)
    lines = [f"**{dataset}, Bit-Swap**: {n:,} test images; `bitswap` recipe (latents 32-16-8) with "
             f"`{' '.join(BITSWAP_BASE)}`, {cfg['epochs']} epochs, settings `{sel.chosen}` chosen on validation "
             f"(−ELBO bits/dim: {vals}), {len(coded)} training seed(s), coded by Bit-Swap; ladder and VAE = the runs "
             f"of the tables above (`{lad['selection'].chosen}`, `{lad['vae_selection'].chosen}`), coded on the same images.",
             ""]

    def row(name: str, recs: list[dict[str, Any]], reserved: int) -> list[str]:
        rs = [c["figures"]["rows"][-1] for c in recs]
        return [name, Stat.of(r["bits_per_dim"] for r in rs).fmt(3), Stat.of(r["payload_bits_per_dim"] for r in rs).fmt(3),
                Stat.of(r["neg_elbo_bits_per_dim"] for r in rs).fmt(3),
                Stat.of(100 * (r["payload_bits_per_dim"] / r["neg_elbo_bits_per_dim"] - 1) for r in rs).fmt(2),
                f"{reserved:,}", Stat.of(r["encode_per_s"] for r in rs).fmt(1), Stat.of(r["decode_per_s"] for r in rs).fmt(1)]

    rows = [row("vaekit `bitswap`, Bit-Swap over 3 layers", coded, bitswap_init_bits(sel.chosen)),
            row("vaekit `ladder`, BB-ANS over 3 layers", lad["coded"], init_bits(lad["selection"].chosen)),
            row("vaekit VAE (1 layer), BB-ANS", lad["vae_coded"], init_bits(lad["vae_selection"].chosen))]
    codecs = lad["classical"]["figures"]["codecs"]
    best_name = min(codecs, key=lambda k: codecs[k]["bits_per_dim"])
    rows.append([f"{best_name} (best classical codec on these images)", f"{codecs[best_name]['bits_per_dim']:.3f}",
                 "", "", "", "", fmt_num(codecs[best_name]["encode_per_s"], 1),
                 fmt_num(codecs[best_name]["decode_per_s"], 1)])
    lines.append(md_table(["coder", "bits/dim (file)", "bits/dim (payload)", "−ELBO bits/dim", "payload over −ELBO (%)",
                           "initial bits reserved", "encode images/s", "decode images/s"], rows))
    by_n: dict[int, dict[str, list[dict[str, Any]]]] = {}
    for side, recs in (("bitswap", coded), ("ladder", lad["coded"])):
        for c in recs:
            for r in c["figures"]["rows"]:
                by_n.setdefault(r["n"], {"bitswap": [], "ladder": []})[side].append(r)
    rrows = []
    for k in sorted(by_n):
        bs, ld = by_n[k]["bitswap"], by_n[k]["ladder"]
        rrows.append([f"{k:,}", Stat.of(r["bits_per_dim"] for r in bs).fmt(4),
                      Stat.of(r["payload_bits_per_dim"] for r in bs).fmt(4),
                      Stat.of(r["neg_elbo_bits_per_dim"] for r in bs).fmt(4),
                      Stat.of(100 * (r["payload_bits_per_dim"] / r["neg_elbo_bits_per_dim"] - 1) for r in bs).fmt(2),
                      Stat.of(r["payload_bits_per_dim"] for r in ld).fmt(4),
                      Stat.of(100 * (r["payload_bits_per_dim"] / r["neg_elbo_bits_per_dim"] - 1) for r in ld).fmt(2)])
    lines += ["", md_table(["images coded", "Bit-Swap bits/dim (file)", "Bit-Swap bits/dim (payload)",
                            "Bit-Swap −ELBO bits/dim", "Bit-Swap payload over −ELBO (%)", "ladder bits/dim (payload)",
                            "ladder payload over −ELBO (%)"], rrows)]
    bs_d, ld_d = _deficits(res["borrow"]), _deficits(lad["borrow"])
    bor = [b["figures"] for b in res["borrow"]]
    layer_first = ", ".join(f"z_{k + 1} {Stat.of(b['first'][k] for b in bor).fmt(0)}" for k in range(len(bor[0]["first"])))
    lines += ["", f"Initial bits, measured on the encoder's stack (what an image needs from the stack it finds: its "
              f"start size minus the lowest size during its steps): Bit-Swap's first test image needed "
              f"{bs_d['first'].fmt(0)} bits of the {bitswap_init_bits(sel.chosen):,} reserved (its pops took {layer_first}, "
              f"{Stat.of(sum(b['first']) for b in bor).fmt(0)} in all, which is what BB-ANS over all layers would need "
              f"for this model; Bit-Swap pushes x before it pops z_2, and z_1 before z_3); the ladder's first image needed "
              f"{ld_d['first'].fmt(0)} of its {init_bits(lad['selection'].chosen):,} (every pop precedes every push). "
              f"Over the first {bor[0]['n']} images, the most any image needed: Bit-Swap {bs_d['max'].fmt(0)}, "
              f"ladder {ld_d['max'].fmt(0)}. Reserved: 16 × (⌈12 × L / 16⌉ + 4) bits, L = the largest layer's "
              f"dimensions for Bit-Swap ({max(LATENTS[sel.chosen])}), all layers' for the ladder "
              f"({sum(LATENTS[lad['selection'].chosen])}). Speeds measured under load ({load_note(coded)}); one process, "
              "the coder on one thread. −ELBO: k = 10 importance-sample estimate, nats → bits/dim by / (D ln 2).", "",
              f"Command: `{cmd}`"]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- driver side
def _call(ctx: Any, task: str, args: dict[str, Any], timeout: float = 7200) -> dict[str, Any]:
    p = ctx.process([sys.executable, str(Path(__file__).resolve()), "--worker", task, json.dumps(args)], timeout=timeout)
    line = next((ln for ln in reversed(p.stdout.splitlines()) if ln.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"worker {task}: no RESULT line\n{p.stderr[-3000:]}")
    return json.loads(line[len("RESULT "):])


def _train_job(h: Harness, dataset: str, cand: str, seed: int, cfg: dict[str, Any]) -> Job:
    overrides = list(CANDIDATES[cand]) + ([f"data.limit={cfg['limit']}"] if cfg.get("limit") else [])
    settings = {"dataset": dataset, "candidate": cand, "epochs": cfg["epochs"], "val_n": cfg["val_n"],
                "overrides": overrides}
    job = Job("compression-train", f"vaekit-{cand}", seed, settings, lambda ctx: {}, split="val", purpose="quality",
              label=f"{dataset} {cand}")
    out = h.artifact_dir(job)
    job.fn = lambda ctx: {**_call(ctx, "train", {"data": DATA[dataset], "epochs": cfg["epochs"], "seed": seed,
                                                 "out": str(out), "overrides": overrides, "val_n": cfg["val_n"]}),
                          "run": str(out)}
    job.artifacts = [str(out / "model.safetensors")]
    return job


def chosen_runs(h: Harness, dataset: str, cfg: dict[str, Any]) -> tuple[Any, list[dict[str, Any]], dict, dict]:
    """Candidates trained and compared on validation; the chosen settings trained with every seed."""
    seeds = cfg["seeds"]
    # 1. Candidates on the validation split (first seed), and the classical codecs on the same images.
    names = cfg.get("candidates", list(CANDIDATES))  # --quick: one candidate (fewer processes)
    cands = {c: h.run(_train_job(h, dataset, c, seeds[0], cfg), need_artifacts=True) for c in names}
    first_run = next(iter(cands.values()))["figures"]["run"]
    val_classical = h.run(Job("compression-classical", "classical", 0, {"dataset": dataset, "split": "val",
                                                                        "n": cfg["val_n"]},
                              lambda ctx: _call(ctx, "classical", {"run": first_run, "split": "val", "n": cfg["val_n"]}),
                              split="val", purpose="speed"))
    best_val = min(c["bits_per_dim"] for c in val_classical["figures"]["codecs"].values())
    line = [{"split": "val", "neg_bpd": -0.75 * best_val}]  # the goal line: 25 % below the best codec
    sel = select_on_validation({c: [r["figures"]] for c, r in cands.items()}, line, quality="neg_bpd")
    # 2. The chosen settings with every seed; the test split coded once per seed.
    trained = [h.run(_train_job(h, dataset, sel.chosen, s, cfg), need_artifacts=True) for s in seeds]
    return sel, trained, cands, val_classical


def run_dataset(h: Harness, dataset: str, cfg: dict[str, Any]) -> dict[str, Any]:
    seeds = cfg["seeds"]
    sel, trained, cands, val_classical = chosen_runs(h, dataset, cfg)
    coded = []
    for s, rec in zip(seeds, trained):
        run_dir = rec["figures"]["run"]
        job = Job("compression-code", f"vaekit-{sel.chosen}", s, {"dataset": dataset, "n": cfg["test_n"],
                                                                  "train_key": rec["key"], "container": 2},
                  lambda ctx, run_dir=run_dir: _call(ctx, "code", {"run": run_dir, "split": "test", "n": cfg["test_n"]}),
                  split="test", purpose="quality", selection=sel, label=f"{dataset} test")
        coded.append(h.run(job))
    test_classical = h.run(Job("compression-classical", "classical", 0, {"dataset": dataset, "split": "test",
                                                                         "n": cfg["test_n"]},
                               lambda ctx: _call(ctx, "classical", {"run": trained[0]["figures"]["run"],
                                                                    "split": "test", "n": cfg["test_n"]}),
                               split="test", purpose="speed"))
    return {"cands": cands, "selection": sel, "val_classical": val_classical, "trained": trained, "coded": coded,
            "test_classical": test_classical}


def render(dataset: str, res: dict[str, Any], quick: bool, cmd: str) -> str:
    coded, sel = res["coded"], res["selection"]
    require_seeds({"vaekit": len(coded)}, quick, f"compression/{dataset}")
    n = coded[0]["figures"]["n"]
    all_rows = [c["figures"]["rows"][-1] for c in coded]
    vae = Stat.of(r["bits_per_dim"] for r in all_rows)
    codecs = res["test_classical"]["figures"]["codecs"]
    best_name = min(codecs, key=lambda k: codecs[k]["bits_per_dim"])
    best = Stat.of([codecs[best_name]["bits_per_dim"]] * 2)  # deterministic: sd 0
    lines = [f"**{dataset}**, {n:,} images of the test split (all of it unless said otherwise); VAE = `compress` recipe with settings "
             f"`{sel.chosen}` (chosen on validation; goal line {-sel.target.mean:.3f} bits/dim "
             f"{'reached' if sel.reached else 'not reached'} there), {len(coded)} training seed(s).", ""]
    rows = [["vaekit BB-ANS (whole stream, header included)", vae.fmt(3),
             Stat.of(r["encode_per_s"] for r in all_rows).fmt(1), Stat.of(r["decode_per_s"] for r in all_rows).fmt(1)]]
    for name, c in sorted(codecs.items(), key=lambda kv: kv[1]["bits_per_dim"]):
        rows.append([name + (" (per image)" if c["per_image"] else " (all images as one blob)"),
                     f"{c['bits_per_dim']:.3f}", fmt_num(c["encode_per_s"], 1), fmt_num(c["decode_per_s"], 1)])
    lines.append(md_table(["codec", "bits/dim", "encode images/s", "decode images/s"], rows))
    lines += ["", f"Best classical codec: {best_name}, {codecs[best_name]['bits_per_dim']:.3f} bits/dim. "
              f"Goal \"below every codec\": {goal(vae, best, 1.0, higher_is_better=False)}; goal \"≥ 25 % below the "
              f"best\": {goal(vae, best, 0.75, higher_is_better=False)} (VAE / best = "
              f"{vae.mean / codecs[best_name]['bits_per_dim']:.3f}).", ""]
    # Rate vs ELBO and the initial-bits overhead.
    by_n: dict[int, list[dict[str, Any]]] = {}
    for c in coded:
        for r in c["figures"]["rows"]:
            by_n.setdefault(r["n"], []).append(r)
    rrows = []
    for k in sorted(by_n):
        rs = by_n[k]
        rrows.append([f"{k:,}", Stat.of(r["bits_per_dim"] for r in rs).fmt(4),
                      Stat.of(r["payload_bits_per_dim"] for r in rs).fmt(4),
                      Stat.of(r["neg_elbo_bits_per_dim"] for r in rs).fmt(4),
                      Stat.of(100 * (r["ratio"] - 1) for r in rs).fmt(2),
                      Stat.of(100 * (r["payload_bits_per_dim"] / r["neg_elbo_bits_per_dim"] - 1) for r in rs).fmt(2)])
    lines.append(md_table(["images coded", "actual bits/dim (file)", "actual bits/dim (payload)", "−ELBO bits/dim",
                           "file over −ELBO (%)", "payload over −ELBO (%)"], rrows))
    loads = res["coded"] + [res["test_classical"]]
    lines += ["", f"Speeds measured under load (shared 2-core machine; {load_note(loads)}); one process, "
              "the coder on one thread. −ELBO: k = 10 importance-sample estimate of the ELBO, nats → bits/dim "
              "by / (D ln 2).", "", f"Command: `{cmd}`"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="toy sizes (seconds); writes results/compression/quick.md")
    ap.add_argument("--only", choices=sorted(DATA) + ["lossy", "ladder", "bitswap"],
                    help="one dataset, the lossy rate-distortion table, the hierarchical (ladder) runs, or the "
                         "Markov hierarchy coded by Bit-Swap (bitswap; --datasets picks which)")
    ap.add_argument("--datasets", default="digits,fashion",
                    help="with --only bitswap: which datasets, comma-separated (default digits,fashion)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--results", default=None, help="results file (default results/compression/results.jsonl, "
                                                     "quick.jsonl with --quick)")
    ap.add_argument("--docs", default=None, help="where the tables go (default docs/compression.md, "
                                                  "results/compression/quick.md with --quick)")
    ap.add_argument("--worker", nargs=2, metavar=("TASK", "JSON"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        result = WORKERS[args.worker[0]](json.loads(args.worker[1]))
        print("RESULT " + json.dumps(result))
        return 0
    results = Path(args.results) if args.results else RESULTS / ("quick.jsonl" if args.quick else "results.jsonl")
    h = Harness(results, threads=args.threads, pythons={"vaekit": sys.executable}, quick=args.quick,
                work=results.parent / ("runs-quick" if args.quick else "runs"))
    sizes = QUICK if args.quick else FULL
    cmd = "python3 bench/bench_compression.py" + (" --quick" if args.quick else "") + \
        (f" --only {args.only}" if args.only else "") + \
        (f" --datasets {args.datasets}" if args.only == "bitswap" and args.datasets != "digits,fashion" else "")
    blocks = {}
    for dataset in ([args.only] if args.only else ["fashion", "digits", "lossy", "ladder", "bitswap"]):
        if dataset == "bitswap":
            for name in args.datasets.split(","):
                quick = args.quick
                res = run_bitswap(h, name, (BITSWAP_QUICK if quick else BITSWAP_FULL)[name],
                                  (LADDER_QUICK if quick else LADDER_FULL)[name], sizes[name])
                blocks[f"compression-bitswap-{name}"] = render_bitswap(name, res, quick, cmd)
                print(blocks[f"compression-bitswap-{name}"])
            continue
        if dataset == "ladder":
            for name in ("digits", "fashion"):
                res = run_ladder(h, name, (LADDER_QUICK if args.quick else LADDER_FULL)[name], sizes[name])
                blocks[f"compression-ladder-{name}"] = render_ladder(name, res, args.quick, cmd)
                print(blocks[f"compression-ladder-{name}"])
            continue
        if dataset == "lossy":
            res = run_lossy(h, sizes["fashion"], LOSSY_QUICK if args.quick else LOSSY)
            blocks["compression-lossy"] = render_lossy(res, args.quick, cmd)
            plot = RESULTS / "quick-rd.png" if args.quick else RD_PLOT
            plot_rd(res, plot)
            print(f"rate-distortion plot written to {plot}", file=sys.stderr)
        else:
            res = run_dataset(h, dataset, sizes[dataset])
            blocks[f"compression-{dataset}"] = render(dataset, res, args.quick, cmd)
        print(blocks[f"compression-{dataset}"])
    target = Path(args.docs) if args.docs else (RESULTS / "quick.md" if args.quick else DOCS)
    put_sections(target, blocks)
    print(f"tables written to {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
